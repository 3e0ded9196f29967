package sqlprovider

import (
	"time"

	"github.com/downloadcenter/dc/domain"
)

// decimalCast is the placeholder of a decimal param: bound as
// CAST(? AS DECIMAL(65,30)) so MySQL compares it with DECIMAL columns
// exactly instead of as a double. domain's decimal grammar keeps values
// within that type's digits.
const decimalCast = "CAST(? AS DECIMAL(65,30))"

// parseParams checks params by the one param grammar (domain.CheckParams)
// and returns the value to bind for each declared name (nil for an absent
// optional one; decimals as their exact text). Every wrong param is
// reported in one *domain.FieldErrors.
func parseParams(decl map[string]Param, zone *time.Location, in map[string]any) (map[string]any, error) {
	typed, err := domain.CheckParams(decl, in, domain.ParamOptions{Zone: zone})
	if err != nil {
		return nil, err
	}
	for name, v := range typed {
		typed[name] = bindable(v)
	}
	return typed, nil
}

// bindValue converts one param value to what is bound for its kind, or
// says why it cannot.
func bindValue(kind domain.ValueKind, zone *time.Location, v any) (any, string) {
	t, reason := domain.ParseParam(kind, v, zone)
	if reason != "" {
		return nil, reason
	}
	return bindable(t), ""
}

// bindable is what the driver is given for a typed param.
func bindable(v any) any {
	if d, ok := v.(domain.Decimal); ok {
		return string(d)
	}
	return v
}
