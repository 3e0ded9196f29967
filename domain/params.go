package domain

import "sort"

// Param declares one param of an export type, as clients see it listed at
// /api/v1/types.
type Param struct {
	Name        string
	Kind        ValueKind
	Required    bool
	Description string
}

// ParamDeclarer is implemented by providers that declare their params;
// every built-in one does. Listing an export type without it shows no
// params.
type ParamDeclarer interface {
	Params() []Param
}

// ExportType describes one export type for clients.
type ExportType struct {
	Name    string
	Params  []Param
	Fields  []Field
	Formats []Format
}

// Describe lists every export type of r with its params and fields, by
// name.
func (r Registry) Describe() []ExportType {
	out := make([]ExportType, 0, len(r))
	for _, name := range r.Types() {
		p := r[name]
		t := ExportType{Name: name, Fields: p.Fields(), Formats: Formats, Params: []Param{}}
		if d, ok := p.(ParamDeclarer); ok {
			t.Params = d.Params()
		}
		sort.Slice(t.Params, func(i, j int) bool { return t.Params[i].Name < t.Params[j].Name })
		out = append(out, t)
	}
	return out
}
