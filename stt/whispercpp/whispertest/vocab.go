package whispertest

// syntheticVocab returns the 50257 tokens a whisper model file stores: the
// 256 single bytes in the GPT-2 byte-level order (printable bytes first, so
// token 220 is " "), then made-up words of two or more letters, half of
// them with a leading space, then the last stored token: "<|endoftext|>"
// in English-only models, empty in multilingual ones, as in OpenAI's files.
func syntheticVocab(multilingual bool) [][]byte {
	vocab := make([][]byte, 0, storedTokens)
	printable := func(b int) bool {
		return ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF)
	}
	for b := range 256 {
		if printable(b) {
			vocab = append(vocab, []byte{byte(b)})
		}
	}
	for b := range 256 {
		if !printable(b) {
			vocab = append(vocab, []byte{byte(b)})
		}
	}
	for k := 0; len(vocab) < storedTokens-1; k++ {
		word := letters(k / 2)
		if k%2 == 0 {
			word = append([]byte{' '}, word...)
		}
		vocab = append(vocab, word)
	}
	if multilingual {
		return append(vocab, []byte{})
	}
	return append(vocab, []byte("<|endoftext|>"))
}

// letters writes n in base 26 with the digits a to z, at least two of them.
func letters(n int) []byte {
	var rev []byte
	for len(rev) < 2 || n > 0 {
		rev = append(rev, byte('a'+n%26))
		n /= 26
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}
