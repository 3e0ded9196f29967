package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/downloadcenter/dc/domain"
)

// typeView is an export type as clients see it at /api/v1/types.
type typeView struct {
	Type    string          `json:"type"`
	Params  []paramView     `json:"params"`
	Fields  []fieldView     `json:"fields"`
	Formats []domain.Format `json:"formats"`
}

type paramView struct {
	Name        string           `json:"name"`
	Kind        domain.ValueKind `json:"kind"`
	Required    bool             `json:"required"`
	Description string           `json:"description"`
}

type fieldView struct {
	Name   string           `json:"name"`
	Header string           `json:"header"`
	Kind   domain.ValueKind `json:"kind"`
}

// registry is what /api/v1/types lists; the domain.Registry is one.
type registry interface {
	Describe() []domain.ExportType
}

func (s *Server) types(c *gin.Context) {
	items := []typeView{}
	if reg, ok := s.tasks.Providers.(registry); ok {
		for _, t := range reg.Describe() {
			v := typeView{Type: t.Name, Formats: t.Formats, Params: make([]paramView, len(t.Params)), Fields: make([]fieldView, len(t.Fields))}
			for i, p := range t.Params {
				v.Params[i] = paramView{Name: p.Name, Kind: p.Kind, Required: p.Required, Description: p.Description}
			}
			for i, f := range t.Fields {
				h := f.Header
				if h == "" {
					h = f.Name
				}
				v.Fields[i] = fieldView{Name: f.Name, Header: h, Kind: f.Kind}
			}
			items = append(items, v)
		}
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}
