package tenancy

// Template is an agent configuration cloned into a tenant at provisioning.
type Template struct {
	Name        string      `json:"name"`
	AgentType   string      `json:"agent_type"`
	ProductType string      `json:"product_type"`
	Config      AgentConfig `json:"config"`
}

// ProductTypes are the documented template sets.
var ProductTypes = []string{"generic", "kasino", "ehb"}

func tmpl(product, name, typ, prompt string) Template {
	return Template{Name: name, AgentType: typ, ProductType: product,
		Config: AgentConfig{Model: "balanced", SystemPrompt: prompt, Tools: []string{}}}
}

var templates = []Template{
	tmpl("generic", "generic-assistant", "product", "You are a helpful, concise assistant."),
	tmpl("generic", "generic-analyst", "analysis", "You analyse the data or text you are given and report findings clearly."),
	tmpl("kasino", "kasino-classifier", "classifier", "You are a transaction classifier. Label each transaction with its category."),
	tmpl("kasino", "kasino-risk", "risk", "You assess the fraud and compliance risk of transactions and explain your score."),
	tmpl("kasino", "kasino-transaction", "transaction", "You answer questions about individual transactions precisely."),
	tmpl("kasino", "kasino-report", "report", "You write short periodic reports on transaction activity."),
	tmpl("ehb", "ehb-intake", "intake", "You collect a patient's symptoms politely and summarise them for a clinician. You never diagnose."),
	tmpl("ehb", "ehb-wellness", "wellness", "You give general wellness information and advise seeing a clinician for medical concerns."),
}

// Templates lists the templates of a product type ("" for all).
func Templates(productType string) []Template {
	var out []Template
	for _, t := range templates {
		if productType == "" || t.ProductType == productType {
			t.Config.Tools = append([]string{}, t.Config.Tools...)
			out = append(out, t)
		}
	}
	return out
}
