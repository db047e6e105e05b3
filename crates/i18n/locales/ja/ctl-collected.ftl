# `cardgatectl audit collected` のメッセージ(接頭辞: ctl-collected-)。

ctl-collected-no-root = { $root }: 集約ログのディレクトリがありません
ctl-collected-no-root-hint = 集約サーバーの rsyslog が端末のログを書き込むディレクトリを --root で指定してください(既定: /var/log/cardgate/terminals)。
ctl-collected-no-keys = { $dir }: 端末の鍵のディレクトリ(--keys)がありません
ctl-collected-read = 集約ログを読み込めません: { $error }
ctl-collected-key-bad = { $path }: k(0) ではありません(16進64桁。その端末で `cardgatectl audit init` が最後の行に表示したもの)
ctl-collected-findings = { $root } の集約ログに指摘が { $count } 件あります
ctl-collected-findings-hint = まず「重大」の指摘を確認してください。端末のログが、集約サーバーが受け取った内容と一致していません。集約サーバーのファイルはそのまま写しを取っておいてください。
ctl-collected-checkpoint-written = チェックポイントを { $path } に書きました。集約サーバーの外に保管し、次回の実行に渡してください(--checkpoint { $path })。
ctl-collected-no-key = 鍵ファイルがありません: 封印の MAC は検証していません
ctl-collected-at-record = (記録 { $seq })
ctl-collected-missing = チェックポイントにはあります(ログ { $log_id }、記録 { $seq } まで)が、ディレクトリがもうありません

ctl-collected-col-host = 端末
ctl-collected-col-records = 記録数
ctl-collected-col-verified = 検証済み
ctl-collected-col-unsealed = 未封印
ctl-collected-col-gaps = 欠落
ctl-collected-col-dup = 重複/順不同
ctl-collected-col-last = 最後の記録
ctl-collected-col-state = 状態

ctl-collected-state-ok = 正常
ctl-collected-state-ok-no-key = 正常(鍵なし)
ctl-collected-severity-critical = 重大
ctl-collected-severity-high = 高
ctl-collected-severity-check = 要確認

ctl-collected-kind-chain-broken = 連鎖が検証できません
ctl-collected-kind-conflict = 集約サーバーが保持する記録と異なる行が届きました(端末のログが書き換えられたか切り詰められました)
ctl-collected-kind-replaced = 新しい連鎖がログを置き換えました(削除して作り直されました)
ctl-collected-kind-gap = 届いていない記録があります
ctl-collected-kind-resent-too-old = 比較できないほど古い記録が再送されました(ログの置き換えか送信位置の喪失)
ctl-collected-kind-late = 欠落と判定した後に記録が届きました
ctl-collected-kind-not-records = 記録ではない行があります
ctl-collected-kind-silent = 無通信: --silent-after を超えて記録がありません
ctl-collected-kind-empty = 記録がまだ一件も届いていません
ctl-collected-kind-not-extended = 集約した写しがチェックポイントを引き継いでいません(切り詰め、書き換えまたは置き換え)
ctl-collected-kind-future = この実行の時刻より後の日時の記録があります(端末の時計)
ctl-collected-kind-far-ahead = 欠けている記録よりはるかに先の番号の行が届きました
ctl-collected-kind-other = その他の指摘(--format json を参照)
