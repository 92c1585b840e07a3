package consent

import (
	"regexp"
	"slices"
	"strings"
)

// TaskType is the kind of work a request asks for, as the contract's task_types name it.
type TaskType string

// Task types. Embedding is never inferred from text: only embeddings requests carry it.
const (
	TextGen       TaskType = "text_gen"
	CodeGen       TaskType = "code_gen"
	Summarization TaskType = "summarization"
	Translation   TaskType = "translation"
	Embedding     TaskType = "embedding"
)

var allTaskTypes = []TaskType{TextGen, CodeGen, Summarization, Translation, Embedding}

// ParseTaskType reads one task type, case-insensitively. "any" is not a task type (it is a contract entry).
func ParseTaskType(s string) (TaskType, error) {
	t := TaskType(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(allTaskTypes, t) {
		return t, nil
	}
	return "", &FieldError{Field: "task_type", Value: s, Accepted: "one of text_gen, code_gen, summarization, translation, embedding"}
}

// Allows reports whether the contract accepts tasks of type t: task_types lists t or "any".
func (c Contract) Allows(t TaskType) bool {
	for _, s := range c.TaskTypes {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == AnyTask || s == string(t) {
			return true
		}
	}
	return false
}

// Keyword lists for Classify. Kept tight: a word that is common outside programming ("go", "rust", "swift",
// "ruby", "function") is not on them; where such a word matters it is matched only as part of a phrase.
const (
	naturalLanguages = `english|french|spanish|german|italian|portuguese|dutch|russian|ukrainian|polish|czech|` +
		`swedish|norwegian|danish|finnish|greek|turkish|arabic|hebrew|persian|farsi|hindi|bengali|urdu|tamil|` +
		`telugu|chinese|mandarin|cantonese|japanese|korean|vietnamese|thai|indonesian|malay|swahili|latin|` +
		`romanian|hungarian|catalan`
	programmingLanguages = `python|golang|javascript|typescript|java|kotlin|php|sql|bash|powershell|rust|c\+\+|c#|` +
		`haskell|scala|perl|lua|ruby`
)

var (
	// Rule 2: turning something into a programming language is code, whatever the verb.
	codeTargetRE = regexp.MustCompile(`\b(?:translat\w*|convert\w*|port|porting|rewrite|rewriting|rewritten)\b[^\n]{0,160}?\b(?:to|into|in)\s+(?:` +
		programmingLanguages + `)(?:[^\w+#]|$)`)
	// Rule 3: translation between natural languages.
	translationRE = regexp.MustCompile(`\btranslat(?:e|es|ed|ing|ion|ions|or)\b` +
		`|\b(?:say|said|spell|spelled|mean|means|called)\b[^\n.!?]{0,80}?\b(?:in|into)\s+(?:` + naturalLanguages + `)\b` +
		`|\bwhat(?:'s|’s| is)\b[^\n.!?]{0,60}?\bin\s+(?:` + naturalLanguages + `)\s*\??\s*$`)
	// Rule 4: summarization.
	summaryRE = regexp.MustCompile(`\b(?:summari[sz]e[sd]?|summari[sz]ing|summary|summaries|summari[sz]ation|tl;?dr)(?:\W|$)`)
	// Rule 5: programming words and phrases.
	codeRE = regexp.MustCompile(`(?:^|[^\w])(?:c\+\+|c#)(?:[^\w+#]|$)` +
		`|\b(?:python|golang|javascript|typescript|java|kotlin|php|sql|bash|powershell|regex|regexp|` +
		`code|coding|bug|bugs|debug|debugging|compile|compiles|compiled|compiler|compiling|refactor|refactoring|` +
		`traceback|stack trace|segfault|syntax error|unit tests?|shell script|source code|` +
		`write an? (?:function|program|script|class|method|query)|a function that|implement an? (?:function|algorithm|class|method))\b`)
)

// Classify returns the task type of a chat request from its last user message, by fixed keyword rules (case
// insensitive, whole words), first match wins:
//
//  1. code_gen if the text contains a code fence (```);
//  2. code_gen if it asks to translate, convert, port or rewrite something to/into a programming language
//     ("translate this to python");
//  3. translation if it contains a word starting with "translat" (translate, translation, translator...), or
//     asks how to say, spell or what something means/is called in a natural language ("how do you say thanks in
//     Japanese", "what is 'cat' in French?");
//  4. summarization for summarize/summarise (and inflections), summary, summarization, tl;dr, tldr;
//  5. code_gen for programming words: python, golang, javascript, typescript, java, kotlin, php, sql, bash,
//     powershell, c++, c#, regex, code, coding, bug, debug, compile(r), refactor, traceback, stack trace,
//     segfault, syntax error, unit test, shell script, source code, "write a function/program/script/class/
//     method/query", "a function that", "implement a function/algorithm/class/method";
//  6. text_gen otherwise.
//
// Summarization comes before the programming words so that "summarize this Python tutorial" is a summary, and
// translation before summarization so that "translate this summary into German" is a translation. Embedding is
// never returned: only embeddings requests are embedding tasks.
func Classify(userText string) TaskType {
	s := strings.ToLower(userText)
	switch {
	case strings.Contains(s, "```"):
		return CodeGen
	case codeTargetRE.MatchString(s):
		return CodeGen
	case translationRE.MatchString(s):
		return Translation
	case summaryRE.MatchString(s):
		return Summarization
	case codeRE.MatchString(s):
		return CodeGen
	}
	return TextGen
}

// allowedText lists the contract's task types for refusal messages.
func (c Contract) allowedText() string {
	if len(c.TaskTypes) == 0 {
		return "none"
	}
	return strings.Join(c.TaskTypes, ", ")
}
