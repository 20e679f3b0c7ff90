// Package poll is the one wait loop of drdrill: probe at an interval until
// a condition holds, the context ends or a deadline passes; when it gives
// up, the error says what it waited for and what it saw last.
//
//	err := poll.Until(ctx, "IO thread Yes", 20*time.Millisecond, 5*time.Second,
//		func(ctx context.Context) (bool, string, error) {
//			st, err := r.Status(ctx)
//			if err != nil {
//				return false, err.Error(), nil // transient: keep polling
//			}
//			return st.IO == replica.IOYes, "IO " + string(st.IO), nil
//		})
package poll
