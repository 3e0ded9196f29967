package domain_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

func TestDecimalValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"0", true}, {"-0", true}, {"12.50", true}, {"-12.50", true}, {"0.10", true},
		{"12345678901234567890.123456789", true},
		{"", false}, {"-", false}, {"01", false}, {"1.", false}, {".5", false}, {"1e5", false},
		{"+1", false}, {"1,5", false}, {"1.2.3", false}, {"0 OR 1=1", false}, {" 1", false}, {"NaN", false},
	} {
		require.Equal(t, tc.ok, domain.Decimal(tc.in).Valid(), "%q", tc.in)
	}
}
