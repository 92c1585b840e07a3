package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/inference"
	"github.com/aria-node/aria/inference/local"
	"github.com/aria-node/aria/node"
)

func inferCommand() *cli.Command {
	return &cli.Command{
		Name:      "infer",
		Usage:     "generate text from a prompt, streamed to stdout",
		ArgsUsage: `"PROMPT"`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Value: node.DefaultModel, Usage: "GGUF path, model name in the data dir, or synthetic shape"},
			&cli.IntFlag{Name: "max-tokens", Value: 128, Usage: "tokens to generate at most"},
			&cli.Float64Flag{Name: "temperature", Value: 0.8, Usage: "sampling temperature, 0 = greedy"},
			&cli.Float64Flag{Name: "top-p", Value: 0.95, Usage: "nucleus sampling threshold (1 = off)"},
			&cli.IntFlag{Name: "top-k", Value: 40, Usage: "sample among the k most likely tokens (0 = off)"},
			&cli.Float64Flag{Name: "min-p", Value: 0.05, Usage: "drop tokens below min-p × the top probability (0 = off)"},
			&cli.Float64Flag{Name: "repeat-penalty", Value: 1.0, Usage: "penalty for recently seen tokens (1 = off)"},
			&cli.Int64Flag{Name: "seed", Value: -1, Usage: "random seed (-1 = random)"},
			&cli.StringSliceFlag{Name: "stop", Usage: "stop string (repeatable)"},
			&cli.BoolFlag{Name: "chat", Usage: "send the prompt as a user chat message through the model's chat template"},
			&cli.StringFlag{Name: "system", Usage: "system message (implies --chat)"},
			threadsFlag(),
			dataDirFlag(),
		},
		Action: func(c *cli.Context) error {
			prompt := strings.Join(c.Args().Slice(), " ")
			if prompt == "" {
				return usageError(`usage: aria infer [flags] "PROMPT" (the prompt must not be empty)`)
			}
			if c.Int("max-tokens") <= 0 {
				return usageError("--max-tokens must be a positive integer, got %d", c.Int("max-tokens"))
			}
			if c.Float64("temperature") < 0 {
				return usageError("--temperature must be >= 0, got %v", c.Float64("temperature"))
			}
			path, err := node.ResolveModel(c.Context, c.String("data-dir"), c.String("model"), os.Stderr)
			if err != nil {
				return err
			}
			e := local.New(local.Options{Threads: c.Int("threads"), Slots: 1, QueueSize: 1})
			defer e.Close()
			info, err := e.Load(c.Context, path, local.LoadOptions{})
			if err != nil {
				return err
			}
			s := inference.DefaultSampling()
			s.Temperature = float32(c.Float64("temperature"))
			s.TopP = float32(c.Float64("top-p"))
			s.TopK = c.Int("top-k")
			s.MinP = float32(c.Float64("min-p"))
			s.RepeatPenalty = float32(c.Float64("repeat-penalty"))
			if seed := c.Int64("seed"); seed >= 0 {
				s.RandomSeed, s.Seed = false, uint64(seed)
			}
			req := inference.Request{Model: info.ID, MaxTokens: c.Int("max-tokens"), Stop: c.StringSlice("stop"), Sampling: s}
			if c.Bool("chat") || c.String("system") != "" {
				if sys := c.String("system"); sys != "" {
					req.Messages = append(req.Messages, inference.Message{Role: "system", Content: sys})
				}
				req.Messages = append(req.Messages, inference.Message{Role: "user", Content: prompt})
			} else {
				req.Prompt = prompt
			}
			out := bufio.NewWriter(os.Stdout)
			res, err := e.Generate(c.Context, req, func(t inference.Token) error {
				if t.Text == "" {
					return nil
				}
				if _, err := out.WriteString(t.Text); err != nil {
					return err
				}
				return out.Flush()
			})
			fmt.Fprintln(out)
			out.Flush()
			if err != nil {
				return err
			}
			tps := 0.0
			if res.CompletionTokens > 1 && res.Decode > 0 {
				tps = float64(res.CompletionTokens-1) / res.Decode.Seconds()
			}
			fmt.Fprintf(os.Stderr, "[%d prompt + %d completion tokens, finish: %s, first token %s, %.1f tok/s]\n",
				res.PromptTokens, res.CompletionTokens, res.FinishReason, res.TimeToFirstToken.Round(100_000), tps)
			return nil
		},
	}
}
