package waf

// apiRules are apiguard's own SecLang rules, loaded after the CRS: the
// injection classes the CRS covers weakly at paranoia level 1 in APIs
// (server-side templates, LDAP filters, header injection through a bare
// line feed, shell commands, comment-split SQL and JavaScript in the
// headers APIs log). Ids 100100-100199.
const apiRules = apiRulesMore + `
SecRule ARGS|ARGS_NAMES|REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer|XML:/* "@rx (?:\{\{[^}]{1,200}\}\}|\{%[^%]{1,200}%\}|<%=?[^%]{1,200}%>|[#$*]\{[^}]{1,200}\})" "id:100100,phase:2,pass,log,t:none,t:urlDecodeUni,msg:'Server-side template injection',tag:'attack-injection-generic',tag:'paranoia-level/1',tag:'apiguard',severity:'CRITICAL'"
SecRule ARGS|ARGS_NAMES|REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer|XML:/* "@rx (?:\*\)\s*\(|\)\s*\(\s*[|&!]\s*\(|\(\s*[|&]\s*\(\s*[a-zA-Z]+\s*=\s*\*)" "id:100110,phase:2,pass,log,t:none,t:urlDecodeUni,msg:'LDAP filter injection',tag:'attack-injection-generic',tag:'paranoia-level/1',tag:'apiguard',severity:'CRITICAL'"
SecRule ARGS|ARGS_NAMES|XML:/* "@rx [\r\n][\t ]*[A-Za-z][A-Za-z0-9-]{1,40}[\t ]*:" "id:100120,phase:2,pass,log,t:none,t:urlDecodeUni,msg:'Header injection (CRLF)',tag:'attack-protocol',tag:'paranoia-level/1',tag:'apiguard',severity:'CRITICAL'"
SecRule ARGS|ARGS_NAMES|XML:/*|REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer "@rx (?:[;|` + "`" + `]|&&|\$\()\s*(?:cat|id|ls|whoami|uname|rm|nc|ncat|wget|curl|ping|sh|bash|chmod|python|perl)\b" "id:100130,phase:2,pass,log,t:none,t:urlDecodeUni,msg:'Command injection in a logged header',tag:'attack-rce',tag:'paranoia-level/1',tag:'apiguard',severity:'CRITICAL'"
SecRule REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer "@detectSQLi" "id:100160,phase:2,pass,log,t:none,t:urlDecodeUni,t:removeCommentsChar,msg:'SQL injection split by comments in a logged header',tag:'attack-sqli',tag:'paranoia-level/1',tag:'apiguard',severity:'CRITICAL'"
SecRule REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer "@rx (?i)(?:\b(?:alert|prompt|confirm|eval|settimeout|setinterval)|fromcharcode|document\.(?:cookie|location|write)|window\.location)\s*[(=` + "`" + `]" "id:100170,phase:2,pass,log,t:none,t:urlDecodeUni,t:jsDecode,msg:'JavaScript in a logged header',tag:'attack-xss',tag:'paranoia-level/1',tag:'apiguard',severity:'CRITICAL'"
`

// apiRulesMore are the traversal and NoSQL-operator rules.
const apiRulesMore = `
SecRule ARGS|ARGS_NAMES|XML:/*|REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer "@rx (?i)(?:\.{2,}[/\x5c]{1,2}\.{2,}|^file:/|(?:^|[/\x5c])\.{2,}[/\x5c])" "id:100140,phase:2,pass,log,t:none,t:urlDecodeUni,msg:'Path traversal',tag:'attack-lfi',tag:'paranoia-level/1',tag:'apiguard',severity:'CRITICAL'"
SecRule ARGS|ARGS_NAMES|XML:/*|REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer "@rx (?:\[\$(?:ne|eq|gt|gte|lt|lte|nin|in|regex|where|exists|or|and|not|expr)\]|(?:^|\.)\$(?:ne|eq|gt|gte|lt|lte|nin|in|regex|where|exists|or|and|not|expr)$|\{\s*\"\$(?:ne|gt|lt|nin|regex|where)\"\s*:)" "id:100150,phase:2,pass,log,t:none,t:urlDecodeUni,msg:'NoSQL operator injection',tag:'attack-injection-generic',tag:'paranoia-level/1',tag:'apiguard',severity:'CRITICAL'"
`
