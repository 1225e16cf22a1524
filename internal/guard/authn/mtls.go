package authn

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path"

	"github.com/apiguard/apiguard/internal/pipeline"
)

// MTLSConfig maps verified client certificates to principals.
type MTLSConfig struct {
	// Rules are tried in order; the first matching rule maps the
	// certificate. A certificate no rule matches is refused.
	Rules []CertRule `yaml:"rules" json:"rules"`
}

// CertRule matches a certificate by subject or SAN. Patterns use
// path.Match syntax ("*.partner.example"); every pattern set must match.
type CertRule struct {
	// Subject matches the whole subject DN (RFC 2253, as Go prints it).
	Subject string `yaml:"subject" json:"subject,omitempty"`
	// CommonName matches the subject CN.
	CommonName string `yaml:"common_name" json:"common_name,omitempty"`
	// DNS, URI and Email match one of the SANs of that kind.
	DNS   string `yaml:"dns" json:"dns,omitempty"`
	URI   string `yaml:"uri" json:"uri,omitempty"`
	Email string `yaml:"email" json:"email,omitempty"`
	// SubjectFrom is what becomes the principal's subject: cn (default),
	// dns, uri, email or subject — the first SAN of the kind.
	SubjectFrom string `yaml:"subject_from" json:"subject_from,omitempty" jsonschema:"enum=cn,enum=dns,enum=uri,enum=email,enum=subject"`
	// Tenant, Roles and Scopes describe the principal.
	Tenant string   `yaml:"tenant" json:"tenant,omitempty"`
	Roles  []string `yaml:"roles" json:"roles,omitempty"`
	Scopes []string `yaml:"scopes" json:"scopes,omitempty"`
}

type mtlsMethod struct {
	rules []CertRule
	rev   *revocations
}

func newMTLS(c *MTLSConfig, rev *revocations) (*mtlsMethod, error) {
	if len(c.Rules) == 0 {
		return nil, errors.New("rules: at least one rule is needed")
	}
	for i, r := range c.Rules {
		pats := []string{r.Subject, r.CommonName, r.DNS, r.URI, r.Email}
		any := false
		for _, p := range pats {
			if p == "" {
				continue
			}
			any = true
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("rules[%d]: bad pattern %q", i, p)
			}
		}
		if !any {
			return nil, fmt.Errorf("rules[%d]: set at least one of subject, common_name, dns, uri, email", i)
		}
		switch r.SubjectFrom {
		case "", "cn", "dns", "uri", "email", "subject":
		default:
			return nil, fmt.Errorf("rules[%d].subject_from: must be cn, dns, uri, email or subject", i)
		}
	}
	return &mtlsMethod{rules: c.Rules, rev: rev}, nil
}

func (m *mtlsMethod) name() string                      { return MethodMTLS }
func (m *mtlsMethod) present(x *pipeline.Exchange) bool { return x.ClientCert != nil }

func match(pattern, v string) bool {
	ok, _ := path.Match(pattern, v)
	return ok
}

func anyMatch(pattern string, vs []string) bool {
	for _, v := range vs {
		if match(pattern, v) {
			return true
		}
	}
	return false
}

// certPrincipal maps a certificate with the first matching rule.
func (m *mtlsMethod) certPrincipal(c *x509.Certificate) (*pipeline.Principal, bool) {
	var uris []string
	for _, u := range c.URIs {
		uris = append(uris, u.String())
	}
	subject := c.Subject.String()
	for _, r := range m.rules {
		if r.Subject != "" && !match(r.Subject, subject) ||
			r.CommonName != "" && !match(r.CommonName, c.Subject.CommonName) ||
			r.DNS != "" && !anyMatch(r.DNS, c.DNSNames) ||
			r.URI != "" && !anyMatch(r.URI, uris) ||
			r.Email != "" && !anyMatch(r.Email, c.EmailAddresses) {
			continue
		}
		sub := c.Subject.CommonName
		switch r.SubjectFrom {
		case "dns":
			sub = first(c.DNSNames)
		case "uri":
			sub = first(uris)
		case "email":
			sub = first(c.EmailAddresses)
		case "subject":
			sub = subject
		}
		if sub == "" {
			return nil, false
		}
		return &pipeline.Principal{Subject: sub, Tenant: r.Tenant, Roles: r.Roles, Scopes: r.Scopes, Method: MethodMTLS, ClientID: c.Subject.CommonName}, true
	}
	return nil, false
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func (m *mtlsMethod) authenticate(_ context.Context, x *pipeline.Exchange) (*pipeline.Principal, failure, error) {
	p, ok := m.certPrincipal(x.ClientCert)
	if !ok {
		return nil, fail("bad_client_cert", "no rule maps the certificate"), nil
	}
	return p, failure{}, nil
}
