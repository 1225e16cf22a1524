package waf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// errXMLDTD is returned for XML documents that declare a DTD or entities.
var errXMLDTD = errors.New("xml: DTD or entity declaration")

// maxXMLValues bounds the values taken from one XML document.
const maxXMLValues = 10000

// xmlValues refuses documents with a DTD, an entity declaration or an
// entity reference other than the five predefined ones (XXE, billion
// laughs), and returns the document's text and attribute values keyed by
// their element path, for inspection.
func xmlValues(body []byte) ([][2]string, error) {
	if hasDTD(body) {
		return nil, errXMLDTD
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	d.Entity = nil // only the predefined entities; any other is an error
	var stack []string
	var out [][2]string
	for len(out) < maxXMLValues {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			if strings.Contains(err.Error(), "entity") {
				return nil, errXMLDTD
			}
			return out, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			p := "xml." + strings.Join(stack, ".")
			for _, a := range t.Attr {
				out = append(out, [2]string{p + ".@" + a.Name.Local, a.Value})
			}
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(t)); s != "" {
				out = append(out, [2]string{"xml." + strings.Join(stack, "."), s})
			}
		case xml.Directive:
			return nil, errXMLDTD
		}
	}
	return out, nil
}

// hasDTD reports whether the document contains a markup declaration
// (<!DOCTYPE, <!ENTITY, <!ELEMENT, <!ATTLIST, <!NOTATION), in any case
// and in UTF-16 too (NUL bytes between the letters are ignored).
func hasDTD(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '<' {
			continue
		}
		j := i + 1
		j = skipNUL(b, j)
		if j >= len(b) || b[j] != '!' {
			continue
		}
		j = skipNUL(b, j+1)
		var word []byte
		for j < len(b) && len(word) < 8 {
			if b[j] == 0 {
				j++
				continue
			}
			c := b[j] | 0x20
			if c < 'a' || c > 'z' {
				break
			}
			word = append(word, c)
			j++
		}
		switch string(word) {
		case "doctype", "entity", "element", "attlist", "notation":
			return true
		}
	}
	return false
}

func skipNUL(b []byte, j int) int {
	for j < len(b) && b[j] == 0 {
		j++
	}
	return j
}
