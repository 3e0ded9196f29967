package domain

import "sort"

// Registry is the one table of export types, shared by the API (which
// validates against it) and the worker (which runs from it).
type Registry map[string]Provider

// Provider returns the provider of an export type.
func (r Registry) Provider(exportType string) (Provider, bool) {
	p, ok := r[exportType]
	return p, ok
}

// Types lists the export types in order.
func (r Registry) Types() []string {
	out := make([]string, 0, len(r))
	for t := range r {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
