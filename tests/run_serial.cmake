# Tests that measure time or CPU use run alone (RUN_SERIAL), so that the load of tests
# running beside them cannot fail them. CTest includes this after the tests are discovered.
# The test `run_serial_names` fails when a name here no longer names a test.
set_tests_properties(
  "ring_test:a sleeping consumer is woken within a millisecond of a commit (median of 25)"
  "bridge_mp_test:an idle bridge sleeps: under 1% of a CPU, and a new record still lands promptly"
  "replay_mp_test:--speed 1 and --speed 4 reproduce the recorded gaps between records"
  "clock_mp_test:stamps from the TSC and from clock_gettime stay within 10 us of CLOCK_REALTIME for 10 s, never go backwards, and survive a refresher killed mid-refresh and hostile calibrations"
  "hostile_mp_test:a tail cursor moved far ahead costs tail --follow one bounded re-seek, and SIGTERM still works"
  PROPERTIES RUN_SERIAL TRUE)
