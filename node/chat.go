package node

import (
	"context"
	"fmt"
	"time"

	"github.com/aria-node/aria/consent"
	"github.com/aria-node/aria/intentions"
	"github.com/aria-node/aria/openai"
)

var (
	_ openai.ChatHook     = (*Node)(nil)
	_ openai.StatusSource = (*Node)(nil)
)

// BeginChat runs before each chat completion: remote work is admitted under the
// consent contract (the owner's own requests are not), then the intentions that fire
// for this request are brought into its system message. The returned End releases
// the admission and, when the response completed, marks the intentions delivered.
func (n *Node) BeginChat(ctx context.Context, info openai.ChatInfo) (openai.ChatTurn, error) {
	last := ""
	if k := len(info.UserMessages); k > 0 {
		last = info.UserMessages[k-1]
	}
	task, err := taskType(*n.cfg.Consent, info.TaskType, last)
	if err != nil {
		return openai.ChatTurn{}, &openai.APIError{Status: 400, Type: openai.TypeInvalidRequest, Code: "invalid_request",
			Message: fmt.Sprintf("Invalid request: 'task_type' %v", err)}
	}
	release := func() {}
	if info.Remote {
		if release, err = n.admission.Admit(task); err != nil {
			return openai.ChatTurn{}, err // *consent.Refusal: openai maps it (503, Retry-After)
		}
	}
	var inj intentions.Injection
	// Intentions belong to conversations: not to embeddings or raw completions.
	if n.intents != nil && (info.Endpoint == "" || info.Endpoint == "responses") {
		inj, err = n.intents.Prepare(ctx, intentions.ChatContext{
			Session: info.Session, Messages: info.UserMessages, Context: info.Metadata, State: n.conditionState(),
		})
		if err != nil {
			// Reminders are an aid: a failing store must not fail the user's request.
			n.log.Warn("intentions not checked for this request", "err", err)
			inj = intentions.Injection{}
		}
		for _, it := range inj.Items {
			n.log.Debug("intention brought up", "id", it.Intention.ID, "reason", it.Reason, "score", it.Score)
		}
	}
	return openai.ChatTurn{
		System: inj.SystemMessage,
		End: func(ok bool) {
			release()
			if ok && len(inj.Items) > 0 {
				// The request's context may be over; the bookkeeping must still land.
				dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := n.intents.Delivered(dctx, inj); err != nil {
					n.log.Warn("intentions delivered but not marked", "err", err)
				}
			}
		},
	}, nil
}

// taskType is the task type a request is admitted as: the classification of its
// last user message, or its declared type (an error if it names none) unless the
// contract refuses the classified one. The stricter of the two wins, so declaring
// text_gen does not get plainly-code work past a contract without code_gen.
func taskType(c consent.Contract, declared, lastUser string) (consent.TaskType, error) {
	classified := consent.Classify(lastUser)
	if declared == "" {
		return classified, nil
	}
	d, err := consent.ParseTaskType(declared)
	if err != nil {
		return "", err
	}
	if !c.Allows(classified) {
		return classified, nil
	}
	return d, nil
}

// conditionState is the node state condition intentions are evaluated against.
func (n *Node) conditionState() map[string]float64 {
	st := n.engine.Stats()
	now := n.now().UTC()
	s := map[string]float64{
		"models.count":        float64(len(n.engine.Models())),
		"slots.active":        float64(st.ActiveSlots),
		"slots.total":         float64(st.TotalSlots),
		"queue.length":        float64(st.Queued),
		"peers.count":         0,
		"node.uptime_seconds": n.Uptime().Seconds(),
		"time.hour":           float64(now.Hour()),
		"time.minute":         float64(now.Minute()),
		"time.weekday":        float64(now.Weekday()),
		"consent.running":     float64(n.admission.Running()),
	}
	if n.host != nil {
		s["peers.count"] = float64(n.host.PeerCount())
	}
	if rep, err := n.energy.Report(); err == nil {
		s["energy.total_inferences"] = float64(rep.Inferences)
		s["energy.total_tokens"] = float64(rep.Tokens)
		s["energy.total_energy_mj"] = rep.EnergyMJ
		if rep.Lifetime != nil {
			t := rep.Lifetime.Totals()
			s["energy.lifetime_inferences"] = float64(t.Inferences)
			s["energy.lifetime_tokens"] = float64(t.Tokens)
		}
	}
	return s
}

// ConsentStatus is the contract and whether the node accepts remote work now.
func (n *Node) ConsentStatus() openai.ConsentStatus {
	ok, why := n.admission.Accepting()
	cs := openai.ConsentStatus{Contract: wireContract(n.admission.Contract()), Accepting: ok, RunningTasks: n.admission.Running()}
	if !ok {
		cs.Reason = &openai.ConsentReason{Code: why.Code, Message: why.Message}
	}
	return cs
}

// wireContract is c in openai's wire form for GET /v1/status.
func wireContract(c consent.Contract) openai.ConsentContract {
	return openai.ConsentContract{CPUPercent: c.CPUPercent, MaxRAMMB: c.MaxRAMMB, MaxBandwidthMbps: c.MaxBandwidthMbps,
		Schedule: c.Schedule, Timezone: c.Timezone, Days: c.Days, TaskTypes: c.TaskTypes,
		MaxConcurrentTasks: c.MaxConcurrentTasks, AllowLogging: c.AllowLogging}
}

// KernelSettings are the threads and duty cycle of work done for others, under the
// contract's cpu_percent. The owner's own requests run with OwnerThreads at full duty.
func (n *Node) KernelSettings() (int, float64) {
	sh := n.engine.RemoteShare()
	return sh.Threads, sh.Duty
}

// OwnerThreads is how many threads a decode serving the owner uses.
func (n *Node) OwnerThreads() int { return n.engine.Threads() }

func (n *Node) now() time.Time { return n.cfg.Now() }
