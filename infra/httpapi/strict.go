package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// keyRule says which keys an object at some place in a body may hold; nil
// keys means any (params), checked only for duplicates.
type keyRule struct {
	keys map[string]bool
	// children gives the rule of the value under a key; elems the rule of
	// an array's object elements.
	children map[string]*keyRule
	elems    *keyRule
}

// createRule is the shape of a create body: encoding/json matches keys
// case-insensitively and keeps the last of duplicate keys, so
// {"NAME":…} or two "name"s would pass it silently.
var createRule = &keyRule{
	keys: map[string]bool{"name": true, "type": true, "format": true, "params": true, "columns": true},
	children: map[string]*keyRule{
		"params":  {},
		"columns": {elems: &keyRule{keys: map[string]bool{"field": true, "header": true, "width": true, "format": true}}},
	},
}

// checkKeys walks a JSON body and refuses duplicate keys anywhere and
// keys that differ from a known field only in case. Syntax errors are left
// to the decoder, which names them better.
func checkKeys(raw []byte, rule *keyRule) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	err := walkValue(dec, rule, "")
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil
	}
	if _, ok := err.(*keyError); ok {
		return err
	}
	return nil
}

type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

func walkValue(dec *json.Decoder, rule *keyRule, at string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			where := key
			if at != "" {
				where = at + "." + key
			}
			if seen[key] {
				return &keyError{fmt.Sprintf("duplicate key %q", where)}
			}
			seen[key] = true
			var child *keyRule
			if rule != nil && rule.keys != nil && !rule.keys[key] {
				for k := range rule.keys {
					if strings.EqualFold(k, key) {
						return &keyError{fmt.Sprintf("unknown field %q (keys are case-sensitive: %q)", where, k)}
					}
				}
			}
			if rule != nil {
				child = rule.children[key]
				if child == nil && rule.keys == nil {
					child = &keyRule{} // inside params: duplicates only
				}
			}
			if err := walkValue(dec, child, where); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			var elem *keyRule
			if rule != nil {
				elem = rule.elems
				if elem == nil && rule.keys == nil {
					elem = &keyRule{}
				}
			}
			if err := walkValue(dec, elem, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}
