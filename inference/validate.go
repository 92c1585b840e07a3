package inference

var validRoles = map[string]bool{"system": true, "user": true, "assistant": true}

// Validate checks what can be checked without the model: max_tokens, the sampling
// fields, and that exactly the prompt or the messages carry content. The error is an
// *InvalidError (errors.Is ErrInvalidRequest) naming the field.
func (r Request) Validate() error {
	if r.MaxTokens <= 0 {
		return invalid("max_tokens", "must be a positive integer, got %d", r.MaxTokens)
	}
	if err := r.Sampling.Validate(); err != nil {
		return err
	}
	if err := r.checkLimits(); err != nil {
		return err
	}
	if r.Messages != nil {
		return ValidateMessages(r.Messages)
	}
	if r.Prompt == "" {
		return invalid("prompt", "must not be empty")
	}
	return nil
}

// ValidateMessages checks that there is at least one message and every role is known.
func ValidateMessages(msgs []Message) error {
	if len(msgs) == 0 {
		return invalid("messages", "must contain at least one message")
	}
	for i, m := range msgs {
		if !validRoles[m.Role] {
			return invalid("messages", "message %d has role %q; expected system, user or assistant", i, m.Role)
		}
	}
	return nil
}
