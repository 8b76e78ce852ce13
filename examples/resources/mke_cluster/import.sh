# Every controller, as <key>=<address>[:<port>], comma-separated.
terraform import mke_cluster.main 'cp1=192.0.2.11,cp2=192.0.2.12,cp3=192.0.2.13:2222'
