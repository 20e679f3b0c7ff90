// Package tunnel drives strongSwan's charon over VICI (govici): bring a
// connection's CHILD SA up, terminate its IKE SA, read its SAs, load
// connections and shared secrets, and follow ike-updown, child-updown and
// child-rekey events into a drill's timeline.
//
// The transport is a Dialer, so a gateway reached over a unix socket (the
// lab), TCP, or an SSH-forwarded socket looks the same to callers.
//
// Two outcomes that charon reports as failures are normal during a drill and
// are returned as typed errors that callers record rather than fail on:
// ErrNoMatchingSA (terminate found nothing to terminate) and ErrDuplicateChild
// (initiate refused because an identical CHILD SA is already installed,
// typically one the peer established a moment earlier).
package tunnel
