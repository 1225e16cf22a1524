package demobank

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// seedTime is when the seeded users were created; seeded transactions
// follow it, so seeding is deterministic.
var seedTime = time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC)

const schema = `
CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	username TEXT NOT NULL UNIQUE,
	display_name TEXT NOT NULL,
	email TEXT NOT NULL,
	phone TEXT NOT NULL,
	ssn TEXT NOT NULL,
	role TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	created_at TEXT NOT NULL,
	avatar BLOB,
	avatar_content_type TEXT
);
CREATE TABLE accounts (
	id INTEGER PRIMARY KEY,
	owner_id INTEGER NOT NULL REFERENCES users(id),
	balance_cents INTEGER NOT NULL,
	iban TEXT NOT NULL,
	currency TEXT NOT NULL
);
CREATE TABLE transactions (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL,
	account_id INTEGER NOT NULL,
	amount_cents INTEGER NOT NULL,
	currency TEXT NOT NULL,
	memo TEXT NOT NULL,
	counterparty TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE INDEX transactions_user ON transactions(user_id, id);
CREATE TABLE transfers (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL,
	from_account_id INTEGER NOT NULL,
	to_account_id INTEGER NOT NULL,
	amount_cents INTEGER NOT NULL,
	currency TEXT NOT NULL,
	memo TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE TABLE transfer_orders (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL,
	from_account_id INTEGER NOT NULL,
	to_iban TEXT NOT NULL,
	amount_cents INTEGER NOT NULL,
	scheduled_for TEXT NOT NULL,
	recurring TEXT NOT NULL,
	order_json TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE TABLE webhooks (
	id INTEGER PRIMARY KEY,
	owner_id INTEGER NOT NULL,
	url TEXT NOT NULL,
	events TEXT NOT NULL,
	created_at TEXT NOT NULL,
	last_response TEXT
);
`

// openDB opens a fresh, private in-memory database. One connection is
// kept open for the instance's lifetime: an in-memory database lives as
// long as a connection to it.
func openDB() (*sql.DB, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	dsn := "file:demobank-" + base64.RawURLEncoding.EncodeToString(b[:]) + "?mode=memory&cache=shared"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.Exec(schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("creating schema: %w", err)
	}
	return db, nil
}

// seed inserts users, accounts and transactions in one transaction.
func seed(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	created := seedTime.Format(time.RFC3339)
	for _, u := range seedUsers {
		if _, err := tx.Exec(`INSERT INTO users (id, username, display_name, email, phone, ssn, role, password_hash, created_at) VALUES (?,?,?,?,?,?,?,?,?)`,
			u.ID, u.Username, u.DisplayName, u.Email, u.Phone, u.SSN, u.Role, hashPassword(u.Password), created); err != nil {
			return fmt.Errorf("user %s: %w", u.Username, err)
		}
		if _, err := tx.Exec(`INSERT INTO accounts (id, owner_id, balance_cents, iban, currency) VALUES (?,?,?,?,?)`,
			u.AccountID, u.ID, u.BalanceCents, iban(u.AccountID), "EUR"); err != nil {
			return fmt.Errorf("account %d: %w", u.AccountID, err)
		}
	}
	if err := seedTransactions(tx); err != nil {
		return err
	}
	return tx.Commit()
}

type seedTx struct {
	userID, accountID int
	cents             int64
	memo, party       string
	at                time.Time
}

var (
	merchants = []string{"Bean There Coffee", "FreshMart Groceries", "City Transit", "BookNook", "Pixel Cinema", "Green Garden Cafe", "QuickFuel", "Pharma Plus", "Streamly", "Gym Nation"}
	incomes   = []string{"Salary ACME Corp", "Refund FreshMart", "Interest", "Gift from Mom", "Freelance invoice"}
)

// seedTransactions inserts alice's 5 000 and bob's and admin's few dozen
// transactions, deterministically, in multi-row statements.
func seedTransactions(tx *sql.Tx) error {
	rng := mrand.New(mrand.NewPCG(20240115, 1))
	var all []seedTx
	at := seedTime
	for i := range 5000 {
		at = at.Add(time.Duration(60+rng.IntN(120)) * time.Minute)
		if i%30 == 0 {
			all = append(all, seedTx{1, 101, int64(100000 + rng.IntN(200000)), incomes[rng.IntN(len(incomes))], "ACME Corp", at})
			continue
		}
		m := merchants[rng.IntN(len(merchants))]
		all = append(all, seedTx{1, 101, -int64(100 + rng.IntN(15000)), "Card payment " + m + " #" + strconv.Itoa(i), m, at})
	}
	at = seedTime
	bobMemos := []string{"Rent split with alice", "Card payment Bean There Coffee", "Salary Initech", "Card payment City Transit", "Card payment FreshMart Groceries", "Concert tickets", "Phone bill"}
	for i := range 40 {
		at = at.Add(time.Duration(600+rng.IntN(600)) * time.Minute)
		memo := bobMemos[i%len(bobMemos)]
		cents := -int64(500 + rng.IntN(9000))
		if strings.HasPrefix(memo, "Salary") {
			cents = 310000
		}
		all = append(all, seedTx{2, 102, cents, memo, "bob", at})
	}
	// A private note another user must never see (shows DB-18's impact).
	all = append(all, seedTx{2, 102, -2500, "Safe deposit box PIN 4417 - do not share", "Bank", at.Add(time.Hour)})
	at = seedTime
	for i := range 5 {
		at = at.Add(48 * time.Hour)
		all = append(all, seedTx{3, 103, -int64(1000 * (i + 1)), "Internal audit fee Q" + strconv.Itoa(i%4+1), "Demobank", at})
	}

	const batch = 500
	for start := 0; start < len(all); start += batch {
		end := min(start+batch, len(all))
		var sb strings.Builder
		sb.WriteString(`INSERT INTO transactions (user_id, account_id, amount_cents, currency, memo, counterparty, created_at) VALUES `)
		args := make([]any, 0, (end-start)*7)
		for i, t := range all[start:end] {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?,?)")
			args = append(args, t.userID, t.accountID, t.cents, "EUR", t.memo, t.party, t.at.UTC().Format(time.RFC3339))
		}
		if _, err := tx.Exec(sb.String(), args...); err != nil {
			return fmt.Errorf("transactions: %w", err)
		}
	}
	return nil
}

const pbkdf2Iterations = 4096

// hashPassword returns a salted PBKDF2-SHA256 hash string
// "$pbkdf2-sha256$<iter>$<salt>$<hash>".
func hashPassword(pw string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	return formatHash(pw, salt, pbkdf2Iterations)
}

func formatHash(pw string, salt []byte, iter int) string {
	key, err := pbkdf2.Key(sha256.New, pw, salt, iter, 32)
	if err != nil {
		// Unreachable with these parameters; an unusable hash fails closed.
		return "$invalid$"
	}
	enc := base64.RawStdEncoding
	return "$pbkdf2-sha256$" + strconv.Itoa(iter) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key)
}

// dummyHash is compared against when the username does not exist, so that
// both cases take the same time.
var dummyHash = hashPassword("not-a-real-password")

// checkPassword reports, in constant time, whether pw matches hash.
func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 5 || parts[1] != "pbkdf2-sha256" {
		return false
	}
	iter, err := strconv.Atoi(parts[2])
	if err != nil || iter < 1 || iter > 1_000_000 {
		return false
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[3])
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(formatHash(pw, salt, iter)), []byte(hash)) == 1
}

// iban builds a German-format IBAN with valid check digits for an account.
func iban(accountID int) string {
	bban := "37040044" + fmt.Sprintf("%010d", 532013000+accountID)
	// Move "DE00" to the end, letters as numbers (D=13, E=14).
	digits := bban + "131400"
	mod := 0
	for _, c := range digits {
		mod = (mod*10 + int(c-'0')) % 97
	}
	return fmt.Sprintf("DE%02d%s", 98-mod, bban)
}
