source /tmp/hRn/h.sh
sp A immediate 2>/dev/null; sp B immediate 2>/dev/null
mk A 55501 55511 'tcp://127.0.0.1:55512' "mantis.sync_interval = 1000
mantis.flush_interval = 100"
mk B 55502 55512 'tcp://127.0.0.1:55511, tcp://127.0.0.1:55513' "mantis.sync_interval = 1000
mantis.flush_interval = 100
mantis.tombstone_lifetime = 1
mantis.debug_clock_offset = 43200000"
st A 55501 >/dev/null; q 55501 "select count(mantis_set('k'||g, 'v')) from generate_series(1,200) g"
sleep 2; st B 55502 >/dev/null; sleep 4
q 55502 "select mantis_set('bk','x'); select mantis_delete('bk')" >/dev/null; sleep 4
echo "B: $(q 55502 "select keys, collected_deletions, lifetime_horizon from mantis_status")"
q 55501 "select mantis_set('new'||g,'n') from generate_series(1,5) g" >/dev/null
sleep 6
echo "A: keys=$(q 55501 "select keys from mantis_status") new1=$(q 55501 "select mantis_get('new1')")"
grep -h 'gave up\|ignoring the refusal' $D/A.log | tail -3
sp A; sp B
