package targetfile_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/drdrill/drdrill/harness/targetfile"
)

// A minimal target file: two sites on this machine, reached through their
// unix sockets. Open(ctx, f, nil) would connect to them.
func Example() {
	os.Setenv("DRDRILL_EXAMPLE_PW", "") // the password variable must be set; empty is no password
	text := `schema: drdrill.target/v1
name: staging
sites:
  aws:
    role: primary
    gateway: {vici: "unix:///run/aws/charon.vici", connection: onprem-aws}
    db: {socket: /run/aws/mysqld.sock, user: drdrill, password_env: DRDRILL_EXAMPLE_PW}
  onprem:
    role: replica
    gateway: {vici: "unix:///run/onprem/charon.vici", connection: onprem-aws}
    db: {socket: /run/onprem/mysqld.sock, user: drdrill, password_env: DRDRILL_EXAMPLE_PW}
`
	f, err := targetfile.Parse([]byte(text), "staging.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Name, f.Sites[0].Name, f.Sites[0].Role, f.Safety().MaxFault, f.Safety().AllowDestructive, f.Workload.Database+"."+f.Workload.Table)

	_, err = targetfile.Parse([]byte(strings.Replace(text, "{socket: /run/onprem", "{sokcet: /run/onprem", 1)), "staging.yaml")
	fmt.Println(err)
	// Output:
	// staging aws primary 5m0s false drdrill.ping
	// staging.yaml:11: sites.onprem.db: unknown key "sokcet" (did you mean "socket"?)
}
