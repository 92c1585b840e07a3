package energy

// References are the figures a node's energy is compared with. The defaults are the
// ARIA protocol's reference figures (aria-api-reference.md, GET /v1/energy): they
// put an inference on a datacenter GPU at 5.6 J per generated token and a cloud API
// (GPU plus datacenter overhead and network) at 7 J per token.
type References struct {
	GPUMJPerToken    float64 `json:"gpu_mj_per_token"`    // default 5625
	CloudMJPerToken  float64 `json:"cloud_mj_per_token"`  // default 7000
	CO2KgPerKWh      float64 `json:"co2_kg_per_kwh"`      // default 0.5 (grid average)
	CloudUSDPerToken float64 `json:"cloud_usd_per_token"` // default 0.000015
	LocalUSDPerToken float64 `json:"local_usd_per_token"` // default 0.000002
}

// DefaultReferences are the ARIA reference figures.
func DefaultReferences() References {
	return References{GPUMJPerToken: 5625, CloudMJPerToken: 7000, CO2KgPerKWh: 0.5, CloudUSDPerToken: 0.000015, LocalUSDPerToken: 0.000002}
}

// MJPerKWh is how many millijoules make a kilowatt-hour (3.6e6 J × 1000).
const MJPerKWh = 3.6e9

// Comparison is the energy saved against one reference.
type Comparison struct {
	EnergySavedMJ    float64
	EnergySavedKWh   float64
	ReductionPercent float64
}

// Savings compares measured energy with the references.
type Savings struct {
	VsGPU, VsCloud Comparison
	CO2SavedKg     float64
	CostSavedUSD   float64
}

// ComputeSavings compares energyMJ spent on tokens generated with what the same tokens
// would have cost at the reference figures: saved = tokens × reference − measured,
// reduction = saved / (tokens × reference) × 100. A node that spent more than the
// reference reports a negative saving rather than hiding it. CO2 is the GPU
// comparison's saved kWh times the grid's intensity; cost is the per-token price
// difference between the cloud and local inference.
func ComputeSavings(tokens int64, energyMJ float64, ref References) Savings {
	compare := func(perToken float64) Comparison {
		baseline := float64(tokens) * perToken
		c := Comparison{EnergySavedMJ: baseline - energyMJ}
		c.EnergySavedKWh = c.EnergySavedMJ / MJPerKWh
		if baseline > 0 {
			c.ReductionPercent = c.EnergySavedMJ / baseline * 100
		}
		return c
	}
	s := Savings{VsGPU: compare(ref.GPUMJPerToken), VsCloud: compare(ref.CloudMJPerToken)}
	s.CO2SavedKg = s.VsGPU.EnergySavedKWh * ref.CO2KgPerKWh
	s.CostSavedUSD = float64(tokens) * (ref.CloudUSDPerToken - ref.LocalUSDPerToken)
	return s
}
