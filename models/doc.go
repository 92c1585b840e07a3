// Package models owns the data dir's model store: importing Microsoft's I2_S BitNet
// GGUFs into files the kernel runs, the catalogue, and pulling files from a hub or peers.
package models
