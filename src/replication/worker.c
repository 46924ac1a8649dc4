/*-------------------------------------------------------------------------
 * replication/worker.c
 *	  The replication worker ("mantis replication"): its life and its wait
 *	  loop; the protocol is in replication/protocol.c (with
 *	  replication/peers.c, replication/outbox.c, replication/live.c and
 *	  replication/repair.c), the sockets in replication/transport.c.
 *
 * Registered only when mantis.listen is set.  A worker of its own, apart
 * from the persistence worker, so that a slow or blocked flush (a lock
 * timeout can take 10 s) never delays a replicated write.  Its life:
 *	- it starts once the persistence worker has loaded mantis_stores, so
 *	  repair compares the real store, not a half-loaded one;
 *	- SIGTERM ends the loop; SIGHUP reloads the settings, connects to the
 *	  peers of the new mantis.peers, and makes again at once every
 *	  connection that does not work (replication/links.c); postmaster death ends it at once;
 *	  an ERROR (e.g. mantis.listen cannot be bound) exits, and the
 *	  postmaster starts it again 5 seconds later.
 *
 * One WaitEventSet holds the latch (backends set it after a write), the
 * postmaster-death event, and the file descriptor of every ZeroMQ socket.
 * Each pass sends what changed, greets peers and runs the repair timers,
 * then drains every socket (ZMQ_FD is edge-triggered: nothing may be left
 * unread when we sleep) before waiting.
 *
 * IDENTIFICATION	src/replication/worker.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "mantis.h"
#include "compat.h"
#include "guc.h"
#include "nodes.h"
#include "wakeup.h"
#include "wait_events.h"
#include "store/store.h"
#include "replication/links.h"
#include "replication/live.h"
#include "replication/peers.h"
#include "replication/protocol.h"
#include "replication/security.h"
#include "replication/transport.h"

PGDLLEXPORT void mantis_replication_worker_main(Datum main_arg);

/* messages handled before the loop looks at its latch again */
#define RECEIVE_BUDGET	2000

/* before_shmem_exit: mantis_peers shows no rows while no worker runs */
static void
clear_view(int code, Datum arg)
{
	mantis_protocol_stop();
}

/*
 * Sleep until the registers are loaded and writable: on a hot standby,
 * until it is promoted (a standby does not replicate: it follows its
 * primary's mantis_stores).  False if told to stop meanwhile.
 */
static bool
wait_until_writable(void)
{
	while (!mantis_store_is_writable())
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, mantis_wait_event(MANTIS_WAIT_REPLICATION_WRITABLE));
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			return false;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
	return true;
}

static WaitEventSet *
build_wait_set(void)
{
	int			fds[MANTIS_TRANSPORT_MAX_FDS];
	int			n = mantis_transport_fds(fds);
	WaitEventSet *set = mantis_create_wait_event_set(n + 2);

	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < n; i++)
		AddWaitEventToSet(set, WL_SOCKET_READABLE, fds[i], NULL, NULL);
	return set;
}

static WaitEventSet *
rebuild_wait_set(WaitEventSet *set)
{
	FreeWaitEventSet(set);
	return build_wait_set();
}

void
mantis_replication_worker_main(Datum main_arg)
{
	WaitEventSet *set;
	bool		more = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/* the database only gives us its encoding, to check received text */
	BackgroundWorkerInitializeConnection(mantis_database, NULL, 0);
	pgstat_report_appname("mantis replication");
	mantis_publish_latch(MANTIS_REPLICATION_WORKER);
	before_shmem_exit(clear_view, (Datum) 0);

	if (!wait_until_writable())
		proc_exit(1);

	mantis_protocol_start();
	ereport(LOG,
			(errmsg("mantis replication listening on %s as node \"%s\"%s",
					mantis_listen, mantis_self_node_name(),
					mantis_curve_enabled() ? " with CURVE" : "")));
	/* only with mantis.insecure_network (replication/security.c) */
	if (!mantis_curve_enabled() && !mantis_endpoint_is_loopback(mantis_listen))
		ereport(WARNING,
				(errmsg("mantis replication listens on %s, which is not a loopback address, without authentication or encryption",
						mantis_listen),
				 errhint("\"mantis.insecure_network\" is on: anyone who can reach it can read and write the store.")));

	set = build_wait_set();

	for (;;)
	{
		WaitEvent	event;
		bool		paced;
		long		timeout;

		paced = !mantis_live_send_due();
		if (!paced)
		{
			mantis_live_send_changes();
			/*
			 * Within a stream, sleep out the next pace now: the next write
			 * would only wake us to start it.
			 */
			paced = mantis_live_streaming() && !mantis_live_send_due();
		}
		mantis_protocol_tick();
		more = mantis_protocol_receive(RECEIVE_BUDGET);

		/*
		 * Within the pacing interval, writes (which set our latch) must not
		 * wake us: sleep through it with the latch disabled.
		 */
		timeout = more ? 0 : paced ? mantis_live_pace_left_ms() : mantis_protocol_sleep_ms();
		ModifyWaitEvent(set, 0, WL_LATCH_SET, paced ? NULL : MyLatch);
		(void) WaitEventSetWait(set, timeout, &event, 1,
							   mantis_wait_event(MANTIS_WAIT_REPLICATION_MAIN));
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			bool		changed;

			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* connections refused or unanswered: again now, the cause may be fixed */
			mantis_links_reload(GetCurrentTimestamp());
			changed = mantis_peers_configure();
			if (mantis_links_sockets_changed() || changed)
				set = rebuild_wait_set(set);
		}
		else if (mantis_links_sockets_changed())
			set = rebuild_wait_set(set);
	}

	/* hand what is left to the peers, then close without lingering */
	mantis_live_send_changes();
	mantis_transport_stop();
	proc_exit(1);
}
