// Package gguf owns the GGUF container format: decoding with full validation
// before llama.cpp sees a file, and streaming encoding.
//
// Decode checks everything ggml's gguf.cpp checks (and a little more, such as
// tensors lying inside the file), so a file it accepts will not make llama.cpp
// abort, overflow or read out of bounds while parsing the header. Decoding
// never trusts a count or length from the file to size an allocation: every
// length is checked against the bytes left in the file first, so a hostile or
// corrupted header costs at most memory proportional to the file.
//
// Versions 2 and 3 are accepted (they share one layout; v1 used 32-bit counts
// and is rejected like llama.cpp does). Only little-endian files are read.
package gguf
