package demobank

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/mail"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// pathID parses a path parameter as an id >= 1.
func pathID(r *http.Request, name string) (int, bool) {
	v := r.PathValue(name)
	if v == "" || len(v) > 10 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	id, err := strconv.Atoi(v)
	if err != nil || id < 1 {
		return 0, false
	}
	return id, true
}

// userRecord is a full users row.
type userRecord struct {
	ID           int
	Username     string
	DisplayName  string
	Email        string
	Phone        string
	SSN          string
	Role         string
	PasswordHash string
	CreatedAt    string
	BalanceCents int64
}

const userColumns = `u.id, u.username, u.display_name, u.email, u.phone, u.ssn, u.role, u.password_hash, u.created_at,
	COALESCE((SELECT balance_cents FROM accounts a WHERE a.owner_id = u.id ORDER BY a.id LIMIT 1), 0)`

func scanUser(sc interface{ Scan(...any) error }) (userRecord, error) {
	var u userRecord
	err := sc.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Email, &u.Phone, &u.SSN, &u.Role, &u.PasswordHash, &u.CreatedAt, &u.BalanceCents)
	return u, err
}

// view is the user as answered. The vulnerable variant includes ssn and
// password_hash (DB-04); the fixed one only what the spec documents.
func (s *Server) view(u userRecord) map[string]any {
	m := map[string]any{
		"id":           u.ID,
		"username":     u.Username,
		"display_name": u.DisplayName,
		"email":        u.Email,
		"phone":        u.Phone,
		"role":         u.Role,
		"balance":      money(u.BalanceCents),
		"created_at":   u.CreatedAt,
	}
	if !s.fixed {
		m["ssn"] = u.SSN
		m["password_hash"] = u.PasswordHash
	}
	return m
}

func money(cents int64) float64 { return float64(cents) / 100 }

func (s *Server) loadUser(r *http.Request, id int) (userRecord, error) {
	ctx, cancel := queryContext(r)
	defer cancel()
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = ?`, id))
}

// handleGetUser serves GET /api/v1/users/{userId}. Vulnerable: any caller
// reads any user (DB-01), with ssn and password hash (DB-04).
func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request, p *principal) {
	id, ok := pathID(r, "userId")
	if !ok {
		s.fail(w, http.StatusBadRequest, "userId must be a positive integer")
		return
	}
	if s.fixed && id != p.userID && !p.isAdmin() {
		s.fail(w, http.StatusNotFound, "user not found")
		return
	}
	s.writeUser(w, r, id)
}

func (s *Server) writeUser(w http.ResponseWriter, r *http.Request, id int) {
	u, err := s.loadUser(r, id)
	if errors.Is(err, sql.ErrNoRows) {
		s.fail(w, http.StatusNotFound, "user not found")
		return
	}
	if err != nil {
		s.internalError(w, r, fmt.Errorf("loading user %d: %w", id, err))
		return
	}
	writeJSON(w, http.StatusOK, s.view(u))
}

// handleGetUserV0 serves the deprecated GET /api/v0/users/{userId}, live in
// the vulnerable variant only, without authentication (DB-20).
func (s *Server) handleGetUserV0(w http.ResponseWriter, r *http.Request, _ *principal) {
	id, ok := pathID(r, "userId")
	if !ok {
		s.fail(w, http.StatusBadRequest, "userId must be a positive integer")
		return
	}
	w.Header().Set("Deprecation", "true")
	s.writeUser(w, r, id)
}

type userPatch struct {
	Email       *string `json:"email"`
	Phone       *string `json:"phone"`
	DisplayName *string `json:"display_name"`
}

// handleUpdateUser serves PATCH /api/v1/users/{userId}. Vulnerable: any
// caller updates any user (DB-06), and role and balance are accepted
// (DB-05).
func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request, p *principal) {
	id, ok := pathID(r, "userId")
	if !ok {
		s.fail(w, http.StatusBadRequest, "userId must be a positive integer")
		return
	}
	if s.fixed && id != p.userID && !p.isAdmin() {
		s.fail(w, http.StatusNotFound, "user not found")
		return
	}
	ctx, cancel := queryContext(r)
	defer cancel()
	var exists int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE id = ?`, id).Scan(&exists); err != nil {
		s.internalError(w, r, err)
		return
	}
	if exists == 0 {
		s.fail(w, http.StatusNotFound, "user not found")
		return
	}

	sets := map[string]any{}
	var balance *float64
	if s.fixed {
		var patch userPatch
		if err := s.decodeBody(w, r, &patch); err != nil {
			s.fail(w, http.StatusBadRequest, err.Error())
			return
		}
		if patch.Email != nil {
			if a, err := mail.ParseAddress(*patch.Email); err != nil || a.Address != *patch.Email || len(*patch.Email) > 254 {
				s.fail(w, http.StatusBadRequest, "email is invalid")
				return
			}
			sets["email"] = *patch.Email
		}
		if patch.Phone != nil {
			if !validPhone(*patch.Phone) {
				s.fail(w, http.StatusBadRequest, "phone is invalid")
				return
			}
			sets["phone"] = *patch.Phone
		}
		if patch.DisplayName != nil {
			if n := utf8.RuneCountInString(*patch.DisplayName); n < 1 || n > 64 || !utf8.ValidString(*patch.DisplayName) || strings.ContainsAny(*patch.DisplayName, "<>\x00") {
				s.fail(w, http.StatusBadRequest, "display_name is invalid")
				return
			}
			sets["display_name"] = *patch.DisplayName
		}
	} else {
		var patch map[string]any
		if err := s.decodeBody(w, r, &patch); err != nil {
			s.fail(w, http.StatusBadRequest, err.Error())
			return
		}
		for k, v := range patch {
			switch k {
			case "email", "phone", "display_name", "role":
				str, ok := v.(string)
				if !ok {
					s.internalError(w, r, fmt.Errorf("updating user: field %s: cannot use %T as string", k, v))
					return
				}
				sets[k] = str
			case "balance":
				f, ok := v.(float64)
				if !ok {
					s.internalError(w, r, fmt.Errorf("updating user: field balance: cannot use %T as float64", v))
					return
				}
				balance = &f
			}
		}
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback() }()
	for _, col := range []string{"email", "phone", "display_name", "role"} {
		v, ok := sets[col]
		if !ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET `+col+` = ? WHERE id = ?`, v, id); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	if balance != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET balance_cents = ? WHERE id = (SELECT id FROM accounts WHERE owner_id = ? ORDER BY id LIMIT 1)`,
			int64(math.Round(*balance*100)), id); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		s.internalError(w, r, err)
		return
	}
	s.writeUser(w, r, id)
}

func validPhone(p string) bool {
	if len(p) < 5 || len(p) > 32 {
		return false
	}
	for i, c := range p {
		switch {
		case c >= '0' && c <= '9', c == '-', c == ' ', c == '(', c == ')':
		case c == '+' && i == 0:
		default:
			return false
		}
	}
	return true
}

// handleAdminListUsers serves GET /api/v1/admin/users. Vulnerable: any
// authenticated caller (DB-14).
func (s *Server) handleAdminListUsers(w http.ResponseWriter, r *http.Request, p *principal) {
	if s.fixed && !p.isAdmin() {
		s.fail(w, http.StatusForbidden, "admin role required")
		return
	}
	ctx, cancel := queryContext(r)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users u ORDER BY u.id`)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	defer func() { _ = rows.Close() }()
	items := []map[string]any{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		items = append(items, s.view(u))
	}
	if err := rows.Err(); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

type account struct {
	ID       int     `json:"id"`
	OwnerID  int     `json:"owner_id"`
	Balance  float64 `json:"balance"`
	IBAN     string  `json:"iban"`
	Currency string  `json:"currency"`
}

// handleGetAccount serves GET /api/v1/accounts/{accountId}. Vulnerable: no
// owner check (DB-02).
func (s *Server) handleGetAccount(w http.ResponseWriter, r *http.Request, p *principal) {
	id, ok := pathID(r, "accountId")
	if !ok {
		s.fail(w, http.StatusBadRequest, "accountId must be a positive integer")
		return
	}
	ctx, cancel := queryContext(r)
	defer cancel()
	var a account
	var cents int64
	err := s.db.QueryRowContext(ctx, `SELECT id, owner_id, balance_cents, iban, currency FROM accounts WHERE id = ?`, id).
		Scan(&a.ID, &a.OwnerID, &cents, &a.IBAN, &a.Currency)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && s.fixed && a.OwnerID != p.userID && !p.isAdmin()) {
		s.fail(w, http.StatusNotFound, "account not found")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	a.Balance = money(cents)
	writeJSON(w, http.StatusOK, a)
}

// handleListAccounts serves GET /api/v1/accounts: the caller's accounts.
func (s *Server) handleListAccounts(w http.ResponseWriter, r *http.Request, p *principal) {
	ctx, cancel := queryContext(r)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT id, owner_id, balance_cents, iban, currency FROM accounts WHERE owner_id = ? ORDER BY id`, p.userID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	defer func() { _ = rows.Close() }()
	items := []account{}
	for rows.Next() {
		var a account
		var cents int64
		if err := rows.Scan(&a.ID, &a.OwnerID, &cents, &a.IBAN, &a.Currency); err != nil {
			s.internalError(w, r, err)
			return
		}
		a.Balance = money(cents)
		items = append(items, a)
	}
	if err := rows.Err(); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

type transferRequest struct {
	FromAccountID int         `json:"from_account_id"`
	ToAccountID   int         `json:"to_account_id"`
	Amount        json.Number `json:"amount"`
	Currency      string      `json:"currency"`
	Memo          string      `json:"memo,omitempty"`
}

const (
	transferQuota       = 5
	transferQuotaWindow = time.Hour
	maxTransferCents    = 100_000_000
)

// handleCreateTransfer serves POST /api/v1/transfers. Vulnerable: no
// owner check on the source account (DB-03), negative and overdrawing
// amounts (DB-12), no quota (DB-13).
func (s *Server) handleCreateTransfer(w http.ResponseWriter, r *http.Request, p *principal) {
	var req transferRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	f, err := req.Amount.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > maxTransferCents/100 {
		s.fail(w, http.StatusBadRequest, "amount must be a number")
		return
	}
	cents := int64(math.Round(f * 100))
	if req.FromAccountID < 1 || req.ToAccountID < 1 {
		s.fail(w, http.StatusBadRequest, "account ids must be positive integers")
		return
	}
	if s.fixed {
		switch {
		case math.Abs(f*100-float64(cents)) > 1e-6:
			s.fail(w, http.StatusBadRequest, "amount must have at most two decimals")
			return
		case cents < 1:
			s.fail(w, http.StatusBadRequest, "amount must be at least 0.01")
			return
		case req.Currency != "EUR":
			s.fail(w, http.StatusBadRequest, "currency must be EUR")
			return
		case utf8.RuneCountInString(req.Memo) > 140 || !utf8.ValidString(req.Memo):
			s.fail(w, http.StatusBadRequest, "memo must be at most 140 characters")
			return
		case req.FromAccountID == req.ToAccountID:
			s.fail(w, http.StatusBadRequest, "source and destination must differ")
			return
		}
	}
	ctx, cancel := queryContext(r)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback() }()
	var fromOwner, toOwner int
	var fromBalance int64
	if err := tx.QueryRowContext(ctx, `SELECT owner_id, balance_cents FROM accounts WHERE id = ?`, req.FromAccountID).Scan(&fromOwner, &fromBalance); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			s.fail(w, http.StatusNotFound, "source account not found")
			return
		}
		s.internalError(w, r, err)
		return
	}
	if err := tx.QueryRowContext(ctx, `SELECT owner_id FROM accounts WHERE id = ?`, req.ToAccountID).Scan(&toOwner); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			s.fail(w, http.StatusNotFound, "destination account not found")
			return
		}
		s.internalError(w, r, err)
		return
	}
	now := s.now()
	if s.fixed {
		if fromOwner != p.userID {
			s.fail(w, http.StatusForbidden, "not your account")
			return
		}
		if cents > fromBalance {
			s.fail(w, http.StatusBadRequest, "insufficient funds")
			return
		}
		if retry, ok := s.takeTransferQuota(p.userID, now); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
			s.fail(w, http.StatusTooManyRequests, "transfer quota exceeded: at most 5 per hour")
			return
		}
	}
	currency := "EUR"
	if req.Currency != "" {
		currency = req.Currency
	}
	at := now.UTC().Format(time.RFC3339)
	res, err := tx.ExecContext(ctx, `INSERT INTO transfers (user_id, from_account_id, to_account_id, amount_cents, currency, memo, created_at) VALUES (?,?,?,?,?,?,?)`,
		p.userID, req.FromAccountID, req.ToAccountID, cents, currency, req.Memo, at)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	tid, _ := res.LastInsertId()
	stmts := []struct {
		q    string
		args []any
	}{
		{`UPDATE accounts SET balance_cents = balance_cents - ? WHERE id = ?`, []any{cents, req.FromAccountID}},
		{`UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?`, []any{cents, req.ToAccountID}},
		{`INSERT INTO transactions (user_id, account_id, amount_cents, currency, memo, counterparty, created_at) VALUES (?,?,?,?,?,?,?)`,
			[]any{fromOwner, req.FromAccountID, -cents, currency, req.Memo, "account " + strconv.Itoa(req.ToAccountID), at}},
		{`INSERT INTO transactions (user_id, account_id, amount_cents, currency, memo, counterparty, created_at) VALUES (?,?,?,?,?,?,?)`,
			[]any{toOwner, req.ToAccountID, cents, currency, req.Memo, "account " + strconv.Itoa(req.FromAccountID), at}},
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		s.internalError(w, r, err)
		return
	}
	out := map[string]any{
		"id":              tid,
		"from_account_id": req.FromAccountID,
		"to_account_id":   req.ToAccountID,
		"amount":          money(cents),
		"currency":        currency,
		"status":          "completed",
		"created_at":      at,
	}
	if req.Memo != "" {
		out["memo"] = req.Memo
	}
	writeJSON(w, http.StatusCreated, out)
}

// takeTransferQuota counts one transfer against the caller's hourly quota.
func (s *Server) takeTransferQuota(user int, now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	times := s.transfersBy[user]
	kept := times[:0]
	for _, t := range times {
		if now.Sub(t) < transferQuotaWindow {
			kept = append(kept, t)
		}
	}
	if len(kept) >= transferQuota {
		s.transfersBy[user] = kept
		return transferQuotaWindow - now.Sub(kept[0]), false
	}
	s.transfersBy[user] = append(kept, now)
	return 0, true
}

// transaction is one answered transaction. Its fields are untyped because
// the vulnerable search scans whatever an injected query returns.
type transaction struct {
	ID           any `json:"id"`
	AccountID    any `json:"account_id"`
	Amount       any `json:"amount"`
	Currency     any `json:"currency"`
	Memo         any `json:"memo"`
	Counterparty any `json:"counterparty,omitempty"`
	CreatedAt    any `json:"created_at"`
}

const (
	defaultLimit = 20
	maxLimit     = 100
	maxOffset    = 1_000_000
)

// intParam reads an integer query parameter (def when empty). Fixed: a
// non-integer or a value outside [lo, hi] is a 400. Vulnerable: no bounds,
// and a non-integer is a 500 with a stack trace (DB-19). ok is false when
// an answer was written.
func (s *Server) intParam(w http.ResponseWriter, r *http.Request, v, name string, def, lo, hi int) (int, bool) {
	if v == "" {
		return def, true
	}
	msg := fmt.Sprintf("%s must be an integer between %d and %d", name, lo, hi)
	n, err := strconv.Atoi(v)
	if err != nil {
		if s.fixed {
			s.fail(w, http.StatusBadRequest, msg)
			return 0, false
		}
		s.internalError(w, r, fmt.Errorf("listing transactions: %w", err))
		return 0, false
	}
	if s.fixed && (n < lo || n > hi) {
		s.fail(w, http.StatusBadRequest, msg)
		return 0, false
	}
	return n, true
}

// handleListTransactions serves GET /api/v1/transactions. Vulnerable: no
// cap on limit (DB-11), and a non-numeric limit is a 500 with a stack
// trace (DB-19).
func (s *Server) handleListTransactions(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	limit, ok := s.intParam(w, r, q.Get("limit"), "limit", defaultLimit, 1, maxLimit)
	if !ok {
		return
	}
	offset, ok := s.intParam(w, r, q.Get("offset"), "offset", 0, 0, maxOffset)
	if !ok {
		return
	}
	ctx, cancel := queryContext(r)
	defer cancel()
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM transactions WHERE user_id = ?`, p.userID).Scan(&total); err != nil {
		s.internalError(w, r, err)
		return
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, account_id, amount_cents, currency, memo, counterparty, created_at
		FROM transactions WHERE user_id = ? ORDER BY id DESC LIMIT ? OFFSET ?`, p.userID, limit, offset)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	defer func() { _ = rows.Close() }()
	items := []transaction{}
	for rows.Next() {
		var (
			id, acct                    int
			cents                       int64
			cur, memo, party, createdAt string
		)
		if err := rows.Scan(&id, &acct, &cents, &cur, &memo, &party, &createdAt); err != nil {
			s.internalError(w, r, err)
			return
		}
		items = append(items, transaction{ID: id, AccountID: acct, Amount: money(cents), Currency: cur, Memo: memo, Counterparty: party, CreatedAt: createdAt})
	}
	if err := rows.Err(); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "limit": limit, "offset": offset, "total": total})
}

// handleSearch serves GET /api/v1/search?q=. Vulnerable: the query is
// built by string concatenation (DB-18), and its errors are answered with
// the SQL and a stack trace (DB-19).
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query().Get("q")
	ctx, cancel := queryContext(r)
	defer cancel()
	var (
		rows *sql.Rows
		err  error
	)
	if s.fixed {
		if n := utf8.RuneCountInString(q); n < 1 || n > 100 || !utf8.ValidString(q) {
			s.fail(w, http.StatusBadRequest, "q must be 1 to 100 characters")
			return
		}
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
		rows, err = s.db.QueryContext(ctx, `SELECT id, account_id, amount_cents, currency, memo, created_at
			FROM transactions WHERE user_id = ? AND memo LIKE ? ESCAPE '\' ORDER BY id DESC LIMIT 50`, p.userID, like)
	} else {
		query := "SELECT id, account_id, amount_cents, currency, memo, created_at FROM transactions WHERE user_id = " +
			strconv.Itoa(p.userID) + " AND memo LIKE '%" + q + "%' ORDER BY id DESC LIMIT 50"
		rows, err = s.db.QueryContext(ctx, query)
		if err != nil {
			err = fmt.Errorf("search query %q: %w", query, err)
		}
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	defer func() { _ = rows.Close() }()
	items := []transaction{}
	for rows.Next() {
		vals := make([]any, 6)
		ptrs := make([]any, 6)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			s.internalError(w, r, err)
			return
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		amount := vals[2]
		if c, ok := amount.(int64); ok {
			amount = money(c)
		}
		items = append(items, transaction{ID: vals[0], AccountID: vals[1], Amount: amount, Currency: vals[3], Memo: vals[4], CreatedAt: vals[5]})
	}
	if err := rows.Err(); err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// handleDebug serves the undocumented GET /internal/debug of the vulnerable
// variant: it leaks configuration (DB-21).
func (s *Server) handleDebug(w http.ResponseWriter, r *http.Request, _ *principal) {
	writeJSON(w, http.StatusOK, map[string]any{
		"service":     "demobank",
		"version":     "0.1.0",
		"environment": "production",
		"go_version":  runtime.Version(),
		"goos":        runtime.GOOS,
		"goarch":      runtime.GOARCH,
		"database": map[string]any{
			"driver": "postgres",
			"dsn":    "postgres://demobank:Sup3rS3cret-db-pass@db.internal.demobank.example:5432/bank?sslmode=disable",
		},
		"jwt": map[string]any{
			"alg":      "ES256",
			"kid":      s.kid,
			"issuer":   baseURL(r),
			"lifetime": tokenLifetime.String(),
		},
		"feature_flags": map[string]bool{"legacy_v0_api": true, "alg_none_tokens": true},
		"admin_email":   "admin@demobank.example",
	})
}
