// Package fakesql is a database/sql server for unit tests: it answers each
// statement from a handler and records it, so that MySQL 8 and MariaDB
// paths can be tested against captured-format outputs without a server.
//
// A Server is a driver.Connector: sql.OpenDB(s), or s.Open(t), which also
// closes the pool when the test ends. Values come back as []byte (what the
// MySQL driver returns for text results) or NULL. The package imports
// nothing from this module, so any package's tests can use it.
package fakesql
