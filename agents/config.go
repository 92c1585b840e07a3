package agents

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// FileConfig is the agents' part of the node's config file: static [[agents]] (the
// ARES config's agent section) and [[workflows]].
type FileConfig struct {
	Agents    []Agent
	Workflows []Workflow
}

// fileAgent is one [[agents]] entry: the documented flat keys, and a [agents.toon] table.
type fileAgent struct {
	Name         string    `json:"name"`
	AgentType    string    `json:"agent_type"`
	Description  string    `json:"description"`
	Model        string    `json:"model"`
	SystemPrompt string    `json:"system_prompt"`
	Tools        []string  `json:"tools"`
	MaxTokens    int       `json:"max_tokens"`
	Collections  []string  `json:"collections"`
	ToolChoice   string    `json:"tool_choice"`
	Toon         *fileToon `json:"toon"`
}

// fileToon is [agents.toon]; tools written after it land in it, as TOML reads them.
type fileToon struct {
	Toon
	Tools []string `json:"tools"`
}

// ParseConfig reads the "agents" and "workflows" sections of a config file's JSON (the
// consent package converts TOML); other keys belong to other packages. The agents are
// validated when the service starts.
func ParseConfig(source string, data []byte) (FileConfig, error) {
	var doc struct {
		Agents    json.RawMessage `json:"agents"`
		Workflows json.RawMessage `json:"workflows"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return FileConfig{}, fmt.Errorf("agents: %s: %w", source, err)
	}
	var fc FileConfig
	if len(doc.Agents) > 0 {
		var as []fileAgent
		if err := strict(doc.Agents, &as); err != nil {
			return fc, fmt.Errorf("agents: %s: [[agents]]: %w", source, err)
		}
		for _, a := range as {
			tools := append([]string{}, a.Tools...)
			var toon *Toon
			if a.Toon != nil {
				t := a.Toon.Toon
				toon = &t
				tools = append(tools, a.Toon.Tools...)
			}
			fc.Agents = append(fc.Agents, Agent{Name: a.Name, AgentType: a.AgentType, Config: Config{Model: a.Model, SystemPrompt: a.SystemPrompt,
				Tools: tools, MaxTokens: a.MaxTokens, Collections: a.Collections, ToolChoice: a.ToolChoice, Toon: toon, Description: a.Description}})
		}
	}
	if len(doc.Workflows) > 0 {
		if err := strict(doc.Workflows, &fc.Workflows); err != nil {
			return fc, fmt.Errorf("agents: %s: [[workflows]]: %w", source, err)
		}
	}
	return fc, nil
}

func strict(data json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
