/*-------------------------------------------------------------------------
 * test/bench/summary_litmus.c
 *	  Not a benchmark: a litmus of the order the sweep's summaries need
 *	  (store/sweep.c's sweep_group(), store/internal.h's leaf_dead_lower()).
 *
 * The writer does what a write lowering a leaf does: pg_atomic_write_u64 of
 * the leaf (a plain store), then atomic_lower()'s pg_atomic_read_u64 of the
 * group (a plain load), and no CAS when the group is already low enough.
 * The sweeper does what sweep_group() does: pg_atomic_exchange_u64 of the
 * group (a locked xchg), then a plain read of the leaf.  A round is lost
 * when both miss the other: the group's summary would end above the leaf.
 * Without the barrier (as at 382f68e) x86 loses some (10,906 of 2,000,000
 * on the 2-core sandbox, 2026-12-07); with it ("fix"), none.
 *
 *	  gcc -O2 -pthread test/bench/summary_litmus.c -o litmus
 *	  ./litmus; ./litmus fix
 *
 * IDENTIFICATION	test/bench/summary_litmus.c
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#define N 2000000
static volatile uint64_t leaf, group, w_saw;
static volatile int start, done_w;
static int fix;
static void *writer(void *a) {
	for (int i = 1; i <= N; i++) {
		for (int s = 0; start < i; s++) if (s > 1000) { sched_yield(); s = 0; }
		leaf = 5;
		if (fix) __atomic_thread_fence(__ATOMIC_SEQ_CST);
		w_saw = group;
		done_w = i;
	}
	return a;
}
int main(int argc, char **argv) {
	(void) argv;
	pthread_t t; long lost = 0;
	fix = argc > 1;
	pthread_create(&t, NULL, writer, NULL);
	for (int i = 1; i <= N; i++) {
		uint64_t s_saw;
		leaf = UINT64_MAX; group = 1;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		start = i;
		for (volatile int d = 0; d < (i % 64); d++) ;	/* vary the skew */
		(void) __atomic_exchange_n(&group, UINT64_MAX, __ATOMIC_SEQ_CST);
		s_saw = leaf;
		for (int s = 0; done_w < i; s++) if (s > 1000) { sched_yield(); s = 0; }
		if (w_saw == 1 && s_saw == UINT64_MAX) lost++;
	}
	pthread_join(t, NULL);
	printf("%s: %ld of %d rounds the group summary ended above the leaf\n",
		   fix ? "with a barrier" : "as on main", lost, N);
	return 0;
}
