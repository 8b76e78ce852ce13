# The machine, as <address>[:<port>].
terraform import 'mke_node.worker["w1"]' 192.0.2.21
