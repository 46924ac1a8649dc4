/*-------------------------------------------------------------------------
 * compat.h
 *	  What differs between the PostgreSQL major versions mantis builds
 *	  against, 15 to 18, in one place: every version check of the C code is
 *	  here, as a header included or a small wrapper (mantis_...) that the
 *	  rest of the code calls on every version.
 *
 *	16	the varlena macros (VARDATA, VARSIZE, ...) moved from postgres.h to
 *		varatt.h, which postgres.h no longer includes
 *	17	CreateWaitEventSet() takes a resource owner, not a memory context:
 *		the set lives in TopMemoryContext until FreeWaitEventSet(); and
 *		extensions may name their wait events (WaitEventExtensionNew(),
 *		through mantis_wait_event_new() for wait_events.c); PGPROC lost
 *		pgprocno, MyProcNumber is this process's index in
 *		ProcGlobal->allProcs
 *	18	the postmaster's list of registered background workers became a
 *		dlist (mantis counts it: mantis_registered_bgworkers());
 *		pg_attribute_noreturn() after a declaration became pg_noreturn
 *		before it; INT64_MODIFIER is gone (18 prints with PRId64; mantis
 *		prints 64-bit integers with %lld and a cast, which every version
 *		takes)
 *
 * IDENTIFICATION	src/compat.h
 *-------------------------------------------------------------------------
 */
#ifndef MANTIS_COMPAT_H
#define MANTIS_COMPAT_H

#include "lib/ilist.h"
#include "postmaster/bgworker_internals.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#if PG_VERSION_NUM < 150000
#error "mantis needs PostgreSQL 15 or later"
#endif

#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* a prefix, as in 18; before 18 GCC's attribute, which may stand first too */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/* this process's index in ProcGlobal->allProcs */
#if PG_VERSION_NUM >= 170000
#define mantis_my_proc_number() ((int) MyProcNumber)
#else
#define mantis_my_proc_number() (MyProc->pgprocno)
#endif

/*
 * The wait event of a wait named "name": from 17 registered under that name
 * (the same id in every process), before 17 PG_WAIT_EXTENSION, which every
 * extension's waits share.  Never 0.
 */
#if PG_VERSION_NUM >= 170000
#define mantis_wait_event_new(name) WaitEventExtensionNew(name)
#else
#define mantis_wait_event_new(name) ((void) (name), (uint32) PG_WAIT_EXTENSION)
#endif

/*
 * How many background workers the postmaster has registered so far (in
 * the postmaster, while shared_preload_libraries load): one that found no
 * slot left is not in the list.
 */
static inline int
mantis_registered_bgworkers(void)
{
	int			n = 0;
#if PG_VERSION_NUM >= 180000
	dlist_iter	iter;

	dlist_foreach(iter, &BackgroundWorkerList)
		n++;
#else
	slist_iter	iter;

	slist_foreach(iter, &BackgroundWorkerList)
		n++;
#endif
	return n;
}

/*
 * A wait event set for nevents events, in TopMemoryContext (from 17 always
 * there, owned here by no resource owner), until FreeWaitEventSet().
 */
static inline WaitEventSet *
mantis_create_wait_event_set(int nevents)
{
#if PG_VERSION_NUM >= 170000
	return CreateWaitEventSet(NULL, nevents);
#else
	return CreateWaitEventSet(TopMemoryContext, nevents);
#endif
}

#endif							/* MANTIS_COMPAT_H */
