package main

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/aria-node/aria/energy"
	"github.com/aria-node/aria/openai"
)

// energyFlags configure the node's meter and the figures savings are compared with.
func energyFlags() []cli.Flag {
	d := energy.DefaultReferences()
	return []cli.Flag{
		&cli.StringFlag{Name: "energy-method", Value: "auto", EnvVars: []string{"ARIA_ENERGY_METHOD"}, Usage: "auto (RAPL when readable, else CPU time), rapl or cpu_time"},
		&cli.Float64Flag{Name: "watts-per-core", Value: energy.DefaultWattsPerCore, EnvVars: []string{"ARIA_WATTS_PER_CORE"}, Usage: "power of one busy core, for the cpu_time method"},
		&cli.StringFlag{Name: "powercap-root", Value: energy.DefaultPowercapRoot, Usage: "where RAPL counters are read"},
		&cli.Float64Flag{Name: "ref-gpu-mj-per-token", Value: d.GPUMJPerToken, Usage: "reference energy of a GPU inference, mJ per token"},
		&cli.Float64Flag{Name: "ref-cloud-mj-per-token", Value: d.CloudMJPerToken, Usage: "reference energy of a cloud API inference, mJ per token"},
		&cli.Float64Flag{Name: "co2-kg-per-kwh", Value: d.CO2KgPerKWh, Usage: "grid carbon intensity"},
		&cli.Float64Flag{Name: "cloud-usd-per-token", Value: d.CloudUSDPerToken, Usage: "reference price of a cloud API token"},
		&cli.Float64Flag{Name: "local-usd-per-token", Value: d.LocalUSDPerToken, Usage: "cost of a local token (electricity)"},
	}
}

func energyOptions(c *cli.Context) (energy.MeterOptions, energy.References, error) {
	m := energy.MeterOptions{Method: c.String("energy-method"), PowercapRoot: c.String("powercap-root"), WattsPerCore: c.Float64("watts-per-core")}
	switch m.Method {
	case "auto", energy.MethodRAPL, energy.MethodCPUTime:
	default:
		return m, energy.References{}, usageError("--energy-method %q: want auto, rapl or cpu_time", m.Method)
	}
	if m.WattsPerCore <= 0 {
		return m, energy.References{}, usageError("--watts-per-core %v: want a positive number of watts", m.WattsPerCore)
	}
	r := energy.References{
		GPUMJPerToken: c.Float64("ref-gpu-mj-per-token"), CloudMJPerToken: c.Float64("ref-cloud-mj-per-token"),
		CO2KgPerKWh: c.Float64("co2-kg-per-kwh"), CloudUSDPerToken: c.Float64("cloud-usd-per-token"), LocalUSDPerToken: c.Float64("local-usd-per-token"),
	}
	for name, v := range map[string]float64{"ref-gpu-mj-per-token": r.GPUMJPerToken, "ref-cloud-mj-per-token": r.CloudMJPerToken,
		"co2-kg-per-kwh": r.CO2KgPerKWh, "cloud-usd-per-token": r.CloudUSDPerToken, "local-usd-per-token": r.LocalUSDPerToken} {
		if v < 0 {
			return m, r, usageError("--%s %v: must not be negative", name, v)
		}
	}
	return m, r, nil
}

func apiClientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "port", Value: 3000, EnvVars: []string{"ARIA_API_PORT"}, Usage: "the node's API port"},
		&cli.StringFlag{Name: "host", Value: "127.0.0.1", Usage: "the node's API host"},
		&cli.BoolFlag{Name: "json", Usage: "print the API's JSON"},
		&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "give up after this long"},
	}
}

func apiBase(c *cli.Context) string {
	return "http://" + net.JoinHostPort(c.String("host"), strconv.Itoa(c.Int("port")))
}

func energyCommand() *cli.Command {
	return &cli.Command{
		Name:  "energy",
		Usage: "show the node's energy: this session and lifetime (from its ledger)",
		Flags: apiClientFlags(),
		Action: func(c *cli.Context) error {
			var e openai.Energy
			if _, err := apiCall(c, "GET", "/v1/energy", nil, &e); err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(e)
			}
			printEnergy(e)
			return nil
		},
	}
}

func printEnergy(e openai.Energy) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	method := e.Method
	if e.References != nil && e.References.WattsPerCore > 0 {
		method += fmt.Sprintf(" (%.1f W per busy core)", e.References.WattsPerCore)
	}
	fmt.Fprintf(tw, "method\t%s\n", method)
	if e.MeterNote != "" {
		fmt.Fprintf(tw, "\t%s\n", e.MeterNote)
	}
	fmt.Fprintf(tw, "session\t%d inferences, %d tokens, %.1f mJ (%.3f mJ/token), up %s\n", e.TotalInferences, e.TotalTokensGenerated,
		e.TotalEnergyMJ, e.AvgEnergyPerTokenMJ, (time.Duration(e.SessionUptimeSeconds) * time.Second).String())
	fmt.Fprintf(tw, "  saved vs GPU\t%.1f mJ (%.2f%%)\n", e.Savings.VsGPU.EnergySavedMJ, e.Savings.VsGPU.ReductionPercent)
	fmt.Fprintf(tw, "  saved vs cloud\t%.1f mJ (%.2f%%)\n", e.Savings.VsCloud.EnergySavedMJ, e.Savings.VsCloud.ReductionPercent)
	fmt.Fprintf(tw, "  CO2 / cost saved\t%.6f kg / $%.6f\n", e.Savings.CO2SavedKg, e.Savings.CostSavedUSD)
	if l := e.Lifetime; l != nil {
		fmt.Fprintf(tw, "lifetime\t%d inferences, %d tokens, %.1f mJ (%.3f mJ/token) since %s\n", l.TotalInferences, l.TotalTokensGenerated,
			l.TotalEnergyMJ, l.AvgEnergyPerTokenMJ, l.Since)
		methods := make([]string, 0, len(l.ByMethod))
		for m := range l.ByMethod {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		if len(methods) > 1 {
			for _, m := range methods {
				t := l.ByMethod[m]
				fmt.Fprintf(tw, "  measured by %s\t%d inferences, %d tokens, %.1f mJ\n", m, t.Inferences, t.Tokens, t.EnergyMJ)
			}
		}
	}
	tw.Flush()
}
