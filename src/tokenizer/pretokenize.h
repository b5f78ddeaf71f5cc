// pretokenize.h: GPT-2's pre-tokenizer, the split of text into words before BPE.
//
// Implements, by hand and without a regex library, what Python's `regex` module (2022.10.31,
// Unicode 15.0) does with GPT-2's pattern
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// under findall(), on UTF-8 bytes:
//   - contractions are ASCII and case-sensitive ('s is one piece, 'S is ' then S);
//   - one leading U+0020 space (only that character) joins a following run of letters,
//     numbers or "other" characters;
//   - in a run of whitespace followed by a non-space, the last code point of the run is left
//     for the next piece (so "a  b" gives "a", " ", " b"); a run at the end of the text is one piece.
// Invalid UTF-8 (bad lead or continuation bytes, overlong forms, surrogates, values above
// U+10FFFF, truncated sequences) never fails: each offending byte counts as one code point of
// class "other" and the scan resumes at the next byte. Valid text behaves exactly as the reference.
#pragma once
#include <stddef.h>
#include <stdint.h>

// Decodes one code point at s[0..len) (len >= 1). Returns the number of bytes used (1..4) and
// sets *cp; an invalid sequence uses 1 byte and sets *cp = 0xFFFFFFFF (class UNI_OTHER).
size_t pretokenize_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);

// Returns the end offset of the piece that starts at pos (pos < len): the piece is
// text[pos..end), end > pos. Pieces tile the text: start at 0 and continue from each end.
size_t pretokenize_next(const char *text, size_t len, size_t pos);
