package ares

// modelErrorFromProviders maps the providers package's typed errors (filled in when
// that package is on main).
func modelErrorFromProviders(err error) (int, string, string, int, bool) {
	return 0, "", "", 0, false
}
