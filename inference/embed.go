package inference

// EmbedRequest is one embeddings call. Each input is a text or, when Tokens is set, a
// list of token ids (Texts and Tokens are never both set).
type EmbedRequest struct {
	Model  string
	Texts  []string
	Tokens [][]int32
}

// EmbedResult holds one mean-pooled, L2-normalised vector per input and the number of
// tokens embedded (the usage a metering layer bills).
type EmbedResult struct {
	Vectors      [][]float32
	PromptTokens int
}

// Inputs is the number of inputs.
func (r EmbedRequest) Inputs() int { return len(r.Texts) + len(r.Tokens) }
