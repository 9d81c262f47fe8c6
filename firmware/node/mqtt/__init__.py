# The MQTT 3.1.1 client: packets (build, parse), link (the socket), client (the session; the
# node imports this one), robust (umqtt.robust's reconnect over it). Empty on purpose: a
# program imports only the module it uses.
