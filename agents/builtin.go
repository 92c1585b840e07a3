package agents

import "time"

// Built-in agents, available to every tenant. Their model is a tier, which the
// providers registry maps to a configured model (the node's own kernel when nothing
// else is configured).
var builtins = []Agent{
	builtin("router", "router", "fast", "Routes incoming requests to the most appropriate specialist agent.",
		"You route requests. Read the user's message and answer with only the name of the one agent, from the list you are given, best suited to handle it. No other words.", nil),
	builtin("product", "product", "balanced", "Answers product-related questions with detailed knowledge.",
		"You are a product specialist. Answer questions about products, features, plans and recommendations clearly and accurately. Say so when you do not know.", nil),
	builtin("sales", "sales", "balanced", "Handles pricing, plans and purchasing questions.",
		"You are a sales specialist. Explain pricing, plans and purchasing options honestly; compare options against the customer's needs; never invent prices you were not given.", nil),
	builtin("support", "support", "balanced", "Troubleshoots problems and answers how-to questions.",
		"You are a customer support specialist. Confirm the customer's issue, then give clear step-by-step help. Escalate billing disputes to a human.", nil),
	builtin("research", "research", "powerful", "Conducts deep multi-step research with source synthesis.",
		"You are a research agent. Investigate the question thoroughly, use web_search for current facts and calculator for arithmetic, cite the sources you used, and write a structured answer in Markdown.",
		[]string{"web_search", "calculator"}),
	builtin("analyst", "analyst", "powerful", "Analyses data and numbers; uses the calculator for exact arithmetic.",
		"You are a data and financial analyst. Show calculations step by step and use the calculator tool for all arithmetic. State your assumptions.",
		[]string{"calculator"}),
	builtin("classifier", "classifier", "fast", "Classifies text into categories quickly.",
		"You classify the input into the most fitting category and give a one-line reason.", nil),
	builtin("code-review", "code-review", "deepseek", "Reviews code for bugs, security issues and style.",
		"You are an expert code reviewer. Find bugs, security issues and style problems; be concise and actionable.", nil),
}

// builtinMaxTokens bounds a built-in agent's answer (a classifier's is short).
var builtinMaxTokens = map[string]int{"router": 16, "classifier": 64, "research": 2048}

func builtin(name, typ, model, desc, prompt string, tools []string) Agent {
	if tools == nil {
		tools = []string{}
	}
	maxTokens := builtinMaxTokens[name]
	if maxTokens == 0 {
		maxTokens = 1024
	}
	return Agent{ID: "builtin-" + name, Name: name, AgentType: typ, BuiltIn: true,
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Config:    Config{Model: model, SystemPrompt: prompt, Tools: tools, Description: desc, MaxTokens: maxTokens}}
}

// BuiltIns lists the built-in agents.
func BuiltIns() []Agent {
	out := make([]Agent, len(builtins))
	for i, a := range builtins {
		a.Config.Tools = append([]string{}, a.Config.Tools...)
		out[i] = a
	}
	return out
}

// Workflow is a multi-agent pipeline: Entry receives the query and may delegate to one
// of the agents Next lists for it, and so on. The graph must be acyclic.
type Workflow struct {
	Name     string              `json:"name"`
	Entry    string              `json:"entry"`
	Next     map[string][]string `json:"next"`
	MaxSteps int                 `json:"max_steps,omitempty"`
}

var builtinWorkflows = []Workflow{
	{Name: "default", Entry: "router", Next: map[string][]string{
		"router": {"product", "sales", "support", "research", "analyst"},
		"sales":  {"product"},
	}},
	{Name: "research", Entry: "router", Next: map[string][]string{"router": {"research", "analyst"}, "research": {"analyst"}}},
	{Name: "support", Entry: "router", Next: map[string][]string{"router": {"support", "product"}, "support": {"product"}}},
}
