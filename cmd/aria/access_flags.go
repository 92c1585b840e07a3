package main

import "github.com/urfave/cli/v2"

// corsOriginsFlag widens the browser origins allowed to use the API.
func corsOriginsFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "cors-origins", EnvVars: []string{"ARIA_CORS_ORIGINS"},
		Usage: "browser origins allowed besides the node's own and localhost ones (scheme://host[:port], scheme://host:* for any port; " +
			"'*' lets ANY web page you visit use the node: unsafe)"}
}

// allowedHostsFlag widens the Host names a loopback-bound API answers.
func allowedHostsFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "allowed-hosts", EnvVars: []string{"ARIA_ALLOWED_HOSTS"},
		Usage: "Host names a loopback-bound API answers besides localhost and IP addresses (protects against DNS rebinding; '*' turns the check off)"}
}
