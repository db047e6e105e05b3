# Words every part of cardgate uses.
common-file = file { $path }
common-yes-no-ascii = [y/N]
common-yes = yes
common-no = no
