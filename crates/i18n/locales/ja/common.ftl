# cardgate 全体で使う語。
common-file = ファイル { $path }
common-yes-no-ascii = [y/N]
common-yes = はい
common-no = いいえ
