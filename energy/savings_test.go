package energy

import (
	"math"
	"testing"
)

func TestSavingsAgainstHandComputedValues(t *testing.T) {
	// The spec's example session: 2100 tokens for 1176 mJ.
	s := ComputeSavings(2100, 1176, DefaultReferences())
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %.12g, want %.12g", name, got, want)
		}
	}
	near("vs_gpu mJ", s.VsGPU.EnergySavedMJ, 11_811_324)       // 2100×5625 − 1176
	near("vs_gpu kWh", s.VsGPU.EnergySavedKWh, 0.003280923333) // ÷ 3.6e9
	near("vs_gpu %", s.VsGPU.ReductionPercent, 99.99004444444)
	near("vs_cloud mJ", s.VsCloud.EnergySavedMJ, 14_698_824) // 2100×7000 − 1176 (the spec's figure)
	near("vs_cloud kWh", s.VsCloud.EnergySavedKWh, 0.004083006667)
	near("vs_cloud %", s.VsCloud.ReductionPercent, 99.992)
	near("co2 kg", s.CO2SavedKg, 0.001640461667)
	near("cost usd", s.CostSavedUSD, 0.0273) // 2100 × (0.000015 − 0.000002)

	zero := ComputeSavings(0, 0, DefaultReferences())
	if zero.VsGPU.ReductionPercent != 0 || zero.CostSavedUSD != 0 {
		t.Fatalf("no tokens: %+v", zero)
	}
	worse := ComputeSavings(1, 10000, DefaultReferences())
	if worse.VsGPU.EnergySavedMJ >= 0 || worse.VsGPU.ReductionPercent >= 0 {
		t.Fatalf("spending more than the reference must show as a negative saving: %+v", worse.VsGPU)
	}
}
