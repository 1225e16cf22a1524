package dlp

// Masking is in place and keeps the length: every masked character becomes
// '*', separators stay. So a masked answer keeps its Content-Length when
// it is masked while streaming, masking twice changes nothing, and a
// masked value is never detected again.

const maskByte = '*'

// maskSpan masks b[sp.start:sp.end] according to the span's kind.
func maskSpan(b []byte, sp span) {
	s := b[sp.start:sp.end]
	switch sp.kind {
	case KindCard, KindIBAN, KindSSN, KindPhone:
		maskKeepLast(s, 4)
	case KindEmail:
		at := len(s)
		for i, c := range s {
			if c == '@' {
				at = i
				break
			}
		}
		if at > 1 {
			maskAll(s[1:at])
		}
	case KindJWT:
		maskAll(s[3:])
	case KindPrivateKey:
		// keep the BEGIN and END lines, mask the key material
		start := 5
		for start < len(s) && !(s[start] == '-' && start+5 <= len(s) && string(s[start:start+5]) == "-----") {
			start++
		}
		start += 5
		end := len(s)
		for k := start; k+9 <= len(s); k++ {
			if string(s[k:k+9]) == "-----END " {
				end = k
				break
			}
		}
		if start < end {
			maskAll(s[start:end])
		}
	case KindAWSAccessKey, KindGCPAPIKey:
		maskAll(s[4:])
	case KindGitHubToken:
		if len(s) > 11 && string(s[:11]) == "github_pat_" {
			maskAll(s[11:])
		} else {
			maskAll(s[4:])
		}
	case KindSlackToken:
		maskAll(s[5:])
	case KindPasswordHash:
		// keep the scheme identifier ("$2b$", "$pbkdf2-sha256$")
		k, dollars := 0, 0
		for k < len(s) && dollars < 2 {
			if s[k] == '$' {
				dollars++
			}
			k++
		}
		if s[0] != '$' { // Django: name$...
			k = 0
			for k < len(s) && s[k] != '$' {
				k++
			}
		}
		maskAll(s[k:])
	default: // KindAWSSecretKey, KindField
		maskAll(s)
	}
}

// maskAll masks every letter and digit of s, and the base64 symbols, but
// not what follows a backslash (a JSON escape when masking raw text).
func maskAll(s []byte) {
	for i, c := range s {
		if i > 0 && s[i-1] == '\\' {
			continue
		}
		if alnum[c] || c == '+' || c == '/' || c == '=' || c == '_' {
			s[i] = maskByte
		}
	}
}

// maskKeepLast masks the letters and digits of s except the last keep.
func maskKeepLast(s []byte, keep int) {
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !alnum[c] {
			continue
		}
		if keep > 0 {
			keep--
			continue
		}
		s[i] = maskByte
	}
}
