// Package gguf owns the GGUF container format: decoding with full validation
// before llama.cpp sees a file, and streaming encoding.
//
// Decode checks everything ggml's gguf.cpp checks, so a file it accepts will
// not make llama.cpp abort, overflow or read out of bounds while parsing the
// header. It is stricter in a few places: keys must be valid UTF-8, keys and
// tensor names must not contain NUL (ggml compares them as C strings), tensor
// names must not be empty, and every tensor's data must lie inside the file. Decoding
// never trusts a count or length from the file to size an allocation: every
// length is checked against the bytes left in the file first, so a hostile or
// corrupted header costs at most memory proportional to the file.
//
// Versions 2 and 3 are accepted (they share one layout; v1 used 32-bit counts
// and is rejected like llama.cpp does). Only little-endian files are read.
package gguf
