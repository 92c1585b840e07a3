package consent

import "testing"

func TestClassify(t *testing.T) {
	cases := []struct {
		text string
		want TaskType
	}{
		// 1. code fence
		{"What does this print?\n```\nfmt.Println(1)\n```", CodeGen},
		{"Summarize this:\n```go\nfunc main() {}\n```", CodeGen},
		// 2. into a programming language
		{"Translate this snippet to Python: for i in range(3): print(i)", CodeGen},
		{"Convert my script into JavaScript please", CodeGen},
		{"Port the parser to Rust", CodeGen},
		{"rewrite main.go in C++", CodeGen},
		{"translate the loop into c#", CodeGen},
		// 3. translation
		{"Translate 'good morning' into French", Translation},
		{"Please translate: Ich bin müde", Translation},
		{"Can you do a translation of this letter?", Translation},
		{"translate 'I want to go home' to Spanish", Translation},
		{"How do you say thank you in Japanese?", Translation},
		{"What does 'merci' mean in English?", Translation},
		{"what is 'cat' in German?", Translation},
		{"Translate the summary into German", Translation},
		{"Translate this article about SQL databases into Spanish", Translation},
		// 4. summarization
		{"Summarize this article: The economy grew...", Summarization},
		{"Please summarise the meeting notes", Summarization},
		{"Give me a summary of the French revolution", Summarization},
		{"tl;dr of this thread?", Summarization},
		{"TLDR please", Summarization},
		{"Summarize this Python tutorial", Summarization},
		{"summarizing the plot of Hamlet", Summarization},
		// 5. programming words
		{"Write a function that reverses a string", CodeGen},
		{"write a program to sort numbers", CodeGen},
		{"How do I read a file in Python?", CodeGen},
		{"what's the difference between golang channels and mutexes", CodeGen},
		{"Explain this SQL query", CodeGen},
		{"I need a regex for email addresses", CodeGen},
		{"There is a bug when I click save", CodeGen},
		{"my project doesn't compile", CodeGen},
		{"help me debug this traceback", CodeGen},
		{"Is C++ faster than Java?", CodeGen},
		{"review this code", CodeGen},
		{"implement an algorithm for topological sort", CodeGen},
		// 6. text
		{"Tell me a story about a dragon", TextGen},
		{"What is the capital of France?", TextGen},
		{"Write a poem in French about autumn", TextGen},
		{"The function of the liver", TextGen},
		{"Let's go to the park", TextGen},
		{"How do I remove rust from a bike chain?", TextGen},
		{"I love Taylor Swift", TextGen},
		{"summer holidays ideas", TextGen},
		{"recode", TextGen},
		{"", TextGen},
	}
	for _, c := range cases {
		if got := Classify(c.text); got != c.want {
			t.Errorf("Classify(%q) = %s, want %s", c.text, got, c.want)
		}
	}
}

func TestParseTaskType(t *testing.T) {
	for _, s := range []string{"text_gen", "code_gen", "summarization", "translation", "embedding", " Text_Gen "} {
		if _, err := ParseTaskType(s); err != nil {
			t.Errorf("ParseTaskType(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "any", "chat", "embeddings"} {
		if got, err := ParseTaskType(s); err == nil {
			t.Errorf("ParseTaskType(%q) = %q, want an error", s, got)
		}
	}
}

func TestAllows(t *testing.T) {
	cases := []struct {
		types []string
		t     TaskType
		want  bool
	}{
		{[]string{"any"}, Embedding, true},
		{[]string{"any"}, CodeGen, true},
		{[]string{"text_gen", "summarization"}, Summarization, true},
		{[]string{"text_gen", "summarization"}, CodeGen, false},
		{[]string{"text_gen"}, Embedding, false},
		{[]string{"Code_Gen"}, CodeGen, true},
		{nil, TextGen, false},
	}
	for _, c := range cases {
		if got := (Contract{TaskTypes: c.types}).Allows(c.t); got != c.want {
			t.Errorf("%v allows %s = %v, want %v", c.types, c.t, got, c.want)
		}
	}
}
