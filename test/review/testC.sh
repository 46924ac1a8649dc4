source /tmp/hRn/h.sh
sp A immediate 2>/dev/null; sp B immediate 2>/dev/null
mk A 55501 55511 'tcp://127.0.0.1:55512' "mantis.sync_interval = 1000
mantis.flush_interval = 100"
mk B 55502 55512 'tcp://127.0.0.1:55511' "mantis.sync_interval = 1000
mantis.flush_interval = 100"
st A 55501 >/dev/null; st B 55502 >/dev/null; sleep 3
q 55501 "select mantis_set('k','v')" >/dev/null; sleep 2
echo "B has k: $(q 55502 "select mantis_get('k')")"
q 55502 "alter system set mantis.flush_interval = ${FLUSH_B:-3600000}" >/dev/null; q 55502 "select pg_reload_conf()" >/dev/null; sleep 1
q 55501 "select mantis_delete('k')" >/dev/null; sleep 4
echo "A after delete: $(q 55501 "select keys, deleted_keys, collected_deletions, collection_horizon from mantis_status")"
echo "B after delete: $(q 55502 "select keys, deleted_keys, collected_deletions from mantis_status")"
# B crashes: kill -9 one backend-less child (the postmaster reinitialises)
PM=$(head -1 $D/B/postmaster.pid); VICTIM=$(pgrep -P $PM | head -1)
kill -9 $VICTIM; sleep 8
echo "B after crash: k=$(q 55502 "select mantis_get('k')")"
sleep 4
echo "A: k=$(q 55501 "select mantis_get('k')")"
sp A; sp B
