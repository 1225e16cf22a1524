package demobank

import (
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// transferOrderRequest is the body of POST /api/v1/transfer-orders: a
// scheduled, possibly recurring, transfer to any IBAN, with the payer's
// details, the client's metadata and the consent the payer gave.
type transferOrderRequest struct {
	Transfer struct {
		From struct {
			AccountID int    `json:"account_id"`
			IBAN      string `json:"iban,omitempty"`
			Holder    string `json:"holder,omitempty"`
		} `json:"from"`
		To struct {
			AccountID int    `json:"account_id,omitempty"`
			IBAN      string `json:"iban"`
			Holder    string `json:"holder"`
			Bank      string `json:"bank,omitempty"`
		} `json:"to"`
		Amount struct {
			Value    string `json:"value"`
			Currency string `json:"currency"`
		} `json:"amount"`
		Memo         string `json:"memo,omitempty"`
		Reference    string `json:"reference,omitempty"`
		ScheduledFor string `json:"scheduled_for"`
		Recurring    *struct {
			Every string `json:"every"`
			Count int    `json:"count"`
		} `json:"recurring,omitempty"`
		Tags []string `json:"tags,omitempty"`
	} `json:"transfer"`
	Payer *struct {
		Name    string `json:"name,omitempty"`
		Email   string `json:"email,omitempty"`
		Phone   string `json:"phone,omitempty"`
		Address *struct {
			Street   string `json:"street,omitempty"`
			City     string `json:"city,omitempty"`
			Postcode string `json:"postcode,omitempty"`
			Country  string `json:"country,omitempty"`
		} `json:"address,omitempty"`
	} `json:"payer,omitempty"`
	Client *struct {
		Channel    string `json:"channel,omitempty"`
		Device     string `json:"device,omitempty"`
		AppVersion string `json:"app_version,omitempty"`
		Locale     string `json:"locale,omitempty"`
		Timezone   string `json:"timezone,omitempty"`
	} `json:"client,omitempty"`
	RequestID      string `json:"request_id"`
	IdempotencyKey string `json:"idempotency_key"`
	Consent        struct {
		Accepted bool   `json:"accepted"`
		At       string `json:"at"`
		Version  string `json:"version"`
		TextID   string `json:"text_id,omitempty"`
	} `json:"consent"`
	Notes string `json:"notes,omitempty"`
}

// ExampleTransferOrder is a realistic 1 KiB transfer order from alice's
// account 101 to bob, valid against TransferOrderRequest: IBANs, a memo in
// prose, a monthly recurrence, the payer's address, client metadata,
// UUIDs, the consent given. It is also the load bench's JSON POST.
var ExampleTransferOrder = []byte(`{"transfer":{"from":{"account_id":101,"iban":"DE89370400440532013000","holder":"Alice Example"},` +
	`"to":{"account_id":102,"iban":"FR1420041010050500013M02606","holder":"Bob Martin","bank":"BNP Paribas"},` +
	`"amount":{"value":"1250.40","currency":"EUR"},` +
	`"memo":"Rent for March, flat 3B at 12 Rue de Rivoli. Thanks again for waiting until the 5th, see you at the meeting!",` +
	`"reference":"INV-2024-0315-0042","scheduled_for":"2024-03-15","recurring":{"every":"month","count":12},` +
	`"tags":["rent","household","monthly"]},` +
	`"payer":{"name":"Alice Example","email":"alice@example.com","phone":"+44 20 7946 0958",` +
	`"address":{"street":"221B Baker Street","city":"London","postcode":"NW1 6XE","country":"GB"}},` +
	`"client":{"channel":"mobile","device":"iPhone 15","app_version":"4.12.1","locale":"en-GB","timezone":"Europe/London"},` +
	`"request_id":"5f0c6a2e-8f5d-4c1e-9a59-6b1f4d2c9e11","idempotency_key":"c1d2e3f4-a5b6-4789-8abc-def012345678",` +
	`"consent":{"accepted":true,"at":"2024-03-14T18:22:05Z","version":"2024-01","text_id":"sepa-standard"},` +
	`"notes":"Second instalment of the deposit is due in April. Keep the receipt."}`)

var (
	orderAmount = regexp.MustCompile(`^(0\.(0[1-9]|[1-9][0-9])|[1-9][0-9]{0,6}\.[0-9]{2})$`)
	ibanShape   = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`)
)

// handleCreateTransferOrder serves POST /api/v1/transfer-orders. Both
// variants check the order (the caller's source account, the amount, the
// IBAN, the date, the consent); the vulnerable variant has no quota
// (DB-13), the fixed one counts orders against the transfer quota.
func (s *Server) handleCreateTransferOrder(w http.ResponseWriter, r *http.Request, p *principal) {
	var req transferOrderRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	t := &req.Transfer
	if msg := checkOrder(&req); msg != "" {
		s.fail(w, http.StatusBadRequest, msg)
		return
	}
	whole, frac, _ := strings.Cut(t.Amount.Value, ".")
	units, _ := strconv.ParseInt(whole, 10, 64)
	hundredths, _ := strconv.ParseInt(frac, 10, 64)
	cents := units*100 + hundredths
	ctx, cancel := queryContext(r)
	defer cancel()
	var owner int
	if err := s.db.QueryRowContext(ctx, `SELECT owner_id FROM accounts WHERE id = ?`, t.From.AccountID).Scan(&owner); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			s.fail(w, http.StatusNotFound, "source account not found")
			return
		}
		s.internalError(w, r, err)
		return
	}
	if owner != p.userID { // both variants: not a planted vulnerability
		s.fail(w, http.StatusForbidden, "not your account")
		return
	}
	now := s.now()
	if s.fixed {
		if retry, ok := s.takeTransferQuota(p.userID, now); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
			s.fail(w, http.StatusTooManyRequests, "transfer quota exceeded: at most 5 per hour")
			return
		}
	}
	recurring := ""
	if t.Recurring != nil {
		recurring = t.Recurring.Every
	}
	stored, _ := json.Marshal(&req)
	at := now.UTC().Format(time.RFC3339)
	res, err := s.db.ExecContext(ctx, `INSERT INTO transfer_orders (user_id, from_account_id, to_iban, amount_cents, scheduled_for, recurring, order_json, created_at) VALUES (?,?,?,?,?,?,?,?)`,
		p.userID, t.From.AccountID, t.To.IBAN, cents, t.ScheduledFor, recurring, string(stored), at)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	id, _ := res.LastInsertId()
	out := map[string]any{
		"id":              id,
		"from_account_id": t.From.AccountID,
		"amount":          map[string]string{"value": t.Amount.Value, "currency": t.Amount.Currency},
		"scheduled_for":   t.ScheduledFor,
		"status":          "scheduled",
		"created_at":      at,
	}
	if recurring != "" {
		out["recurring"] = recurring
	}
	writeJSON(w, http.StatusCreated, out)
}

// checkOrder returns why an order is refused, or "".
func checkOrder(req *transferOrderRequest) string {
	t := &req.Transfer
	switch {
	case t.From.AccountID < 1:
		return "transfer.from.account_id must be a positive integer"
	case !ibanShape.MatchString(t.To.IBAN) || t.From.IBAN != "" && !ibanShape.MatchString(t.From.IBAN):
		return "IBANs must be upper-case letters and digits, 15 to 34 characters"
	case t.To.Holder == "" || len(t.To.Holder) > 70:
		return "transfer.to.holder must be 1 to 70 characters"
	case !orderAmount.MatchString(t.Amount.Value):
		return "transfer.amount.value must be a positive decimal with two decimals, at most 9999999.99"
	case t.Amount.Currency != "EUR":
		return "transfer.amount.currency must be EUR"
	case len([]rune(t.Memo)) > 140:
		return "transfer.memo must be at most 140 characters"
	case t.Recurring != nil && (t.Recurring.Count < 1 || t.Recurring.Count > 120 ||
		t.Recurring.Every != "week" && t.Recurring.Every != "month" && t.Recurring.Every != "quarter" && t.Recurring.Every != "year"):
		return "transfer.recurring must be every week, month, quarter or year, 1 to 120 times"
	case len(t.Tags) > 10:
		return "transfer.tags: at most 10"
	case !req.Consent.Accepted:
		return "consent.accepted must be true"
	case len(req.Notes) > 500:
		return "notes must be at most 500 characters"
	}
	if _, err := time.Parse("2006-01-02", t.ScheduledFor); err != nil {
		return "transfer.scheduled_for must be a date (YYYY-MM-DD)"
	}
	if _, err := time.Parse(time.RFC3339, req.Consent.At); err != nil {
		return "consent.at must be an RFC 3339 date-time"
	}
	return ""
}
