# review のメッセージ(ID の接頭辞: review-)。アクセス管理者による操作履歴の点検(第7条・第12条)。

review-title = 端末操作履歴 点検結果報告書(セキュリティ規程 第7条)
review-period = 対象期間: { $from } ～ { $to }
review-period-log-start = ログの先頭
review-period-log-end = ログの末尾
review-records = 点検した記録: { $count } 件
review-times-in = 時刻はすべて庁舎の現地時刻(UTC{ $offset })で表示しています。
review-footer = cardgatectl audit report により作成。ログは協定世界時(UTC)で記録され、本報告書では庁舎の現地時刻で表示しています。押印した本報告書は、今回の点検のチェックポイントと共に保管してください。

## 検証結果(冒頭)
review-verification = ログの検証結果
review-verify-not-run = 今回の点検ではログを検証していません。
review-verify-intact-key = { $dir }: 改ざんなし。記録 { $records } 件・封印 { $seals } 件、すべての封印を k(0) で認証しました。
review-verify-intact-no-key = { $dir }: 連鎖に異常はありません(記録 { $records } 件・封印 { $seals } 件)が、k(0) の指定がないため封印は認証していません。ログ全体を書き換えられた場合は検出できません。
review-verify-broken = { $dir }: 記録 { $seq } 以降に改ざんまたは破損があります: { $problem }
review-verify-unsealed = 末尾の { $count } 件(記録 { $first } ～ { $last })はまだ封印されていません。
review-key-fingerprint = 使用した鍵: k(0)(指紋 { $fingerprint })
review-key-none = 使用した鍵: なし(封印を認証するには --key - または --key-file で k(0) を指定してください)

## `cardgatectl audit verify` の表示
review-verify-summary-intact = 改ざんなし: 記録 { $records } 件、封印 { $seals } 件、{ $bytes } バイト
review-verify-key-checked = 封印を k(0) で認証しました(指紋 { $fingerprint })
review-verify-key-unchecked = 封印は認証していません(k(0) の指定なし。--key - または --key-file で指定してください)。連鎖と封印の構造だけを検査しました
review-verify-summary-broken = 記録 { $seq } で改ざんまたは破損を検出: { $problem }
review-verify-summary-unsealed = 未封印の末尾: { $count } 件(記録 { $first } ～ { $last }、{ $since } 以降)。まだ封印で保護されていません
review-verify-key-update-pending = 注記: 最後の封印と鍵の更新の間で書き込みが止まっています。次に開いたときに完了します
review-verify-key-file-not-readable = 注記: 封印鍵のファイルは root だけが読めるため、ログとの照合はしていません(照合は root で実行してください)。封印はすべて k(0) から検証しました

## 所見
review-critical = ログ自体が信頼できません
review-findings = 所見
review-findings-none = 所見: なし
review-findings-count = 所見: { $count } 件(重大なものから順に、同じ区分の中では時刻順)
review-severity-critical = 重大
review-severity-high = 要調査
review-severity-medium = 要確認

review-kind-log-not-intact = ログの検証不合格
review-action-log-not-intact = この点検結果には依拠しないでください。ログのディレクトリをそのまま複製して保全し、端末に触れた者を確認のうえ、セキュリティ責任者に報告してください。
review-kind-log-not-extended = 前回点検以降のログの置換・切り詰め・巻き戻し
review-action-log-not-extended = ログが前回点検のチェックポイントに続いていません。記録が削除されたか、ログが置き換えられています。両方の複製を保全し、直ちにセキュリティ責任者に報告してください。
review-kind-record-gap = 記録番号の欠落
review-action-record-gap = 記録が削除または消失しています。k(0) でログを検証し、複製を保全して報告してください。
review-kind-revoked-card-presented = 失効したカードの使用
review-action-revoked-card-presented = カードを所持していた者を確認してください。紛失・盗難カードが第三者の手にある可能性があります。届出の有無も確認してください。
review-kind-unknown-card-presented = 不明なカードの使用
review-action-unknown-card-presented = 当庁が発行していないカード(または有効期限切れのカード)が使われました。誰のカードか、なぜ使われたかを確認してください。
review-kind-card-never-issued = 発行記録のないカード
review-action-card-never-issued = 管理簿にないカードです。出所を確認し、当庁のカードであれば失効させてください。
review-kind-outside-business-hours = 業務時間外の使用
review-action-outside-business-hours = 操作者に作業の理由と、時間外勤務の承認の有無を確認してください。
review-kind-on-national-holiday = 祝日の使用
review-action-on-national-holiday = 操作者に祝日に作業した理由と、承認の有無を確認してください。
review-kind-on-closed-day = 閉庁日の使用
review-action-on-closed-day = 操作者に閉庁日(年末年始または庁舎独自の閉庁日)に作業した理由と、承認の有無を確認してください。
review-kind-card-on-two-terminals = 同一カードの複数端末での同時使用
review-action-card-on-two-terminals = 1 枚のカードが同時に 2 台の読取装置にあることはありません。証明書の複製またはログの改ざんの可能性があります。カードを失効させ、調査してください。
review-kind-operator-on-two-terminals = 同一操作者の複数端末での同時ログイン
review-action-operator-on-two-terminals = 同じ操作者が 2 台の端末に同時にログインしていました。本人以外がセッションやカードを使っていないか確認してください。
review-kind-use-after-return = 返却・失効後のカードの使用
review-action-use-after-return = 使用できないはずのカードです。カードを回収し、すべての端末の失効リストを確認してください。
review-kind-failed-pin-burst = 短時間の暗証番号誤入力の集中
review-action-failed-pin-burst = 短時間に多数の誤入力があるのは、拾得されたカードが試されている兆候です。カードの貸与者にカードを所持しているか確認してください。
review-kind-denial-burst = 短時間のログイン拒否の集中
review-action-denial-burst = 1 台の端末または 1 枚のカードで、短時間に多数のログインが拒否されています。その時刻に端末の前にいた者を確認してください。
review-kind-session-never-ended = 終了していないセッション
review-action-session-never-ended = ログアウトの記録がありません(デーモンの再起動、停電、またはログイン中のまま)。端末が放置されていなかったか確認してください。
review-kind-puk-rejected = PUK の誤入力
review-action-puk-rejected = 誤った PUK でカードのロック解除または再発行が試みられました。記録に残る実行者を確認してください。
review-kind-manager-refused = アクセス管理者カードの認証失敗
review-action-manager-refused = 有効なアクセス管理者カードなしでカードの発行またはロック解除が試みられました。実行者を確認してください。
review-kind-lock-not-held = 画面がロックされなかった
review-action-lock-not-held = ロックが求められましたが、logind が拒否したか、スクリーンロッカーがロックを確認しなかったため、デーモンがセッションを終了しました。端末のスクリーンロッカー（logind の Lock に従い LockedHint を設定するもの）と、操作者の作業が失われていないかを確認してください。
review-kind-reader-service-lost = スマートカードサービス（pcscd）の停止
review-action-reader-service-lost = デーモンの稼働中にカードサービスが停止しました。その時点で開いていたセッションはロックされ、カードと暗証番号で解除されるまでロックされたままでした。pcscd が停止した理由（journalctl -u pcscd）と、端末に操作者がいたかを確認してください。
review-kind-terminal-conflict = 集約した端末ログと収集サーバの記録の不一致
review-action-terminal-conflict = 同じ番号の記録が別の内容で届きました。記録が収集サーバに届いた後で、端末のログが書き換えられた(回収された鍵で封印し直された可能性を含む)か、切り詰めて続けられています。収集サーバの複製が証拠です。保全し、端末のログもそのまま複製して、直ちにセキュリティ責任者に報告してください。
review-kind-terminal-replaced = 集約した端末ログの作り直し
review-action-terminal-replaced = 端末から別のログ ID の起点記録が届きました。端末のログが削除され、初期化し直されています。収集サーバにある旧ログの複製を保全し、実行者を確認して、直ちにセキュリティ責任者に報告してください。
review-kind-terminal-resent = 比較できない時期の記録の再送
review-action-terminal-resent = 収集サーバが以前に受け取った記録を端末が再び送りました。端末のログファイルが置き換えられたか、rsyslog の送信位置(imfile の状態)が失われています。収集サーバのチェックポイントで端末のログを点検してください(audit report --checkpoint)。
review-kind-terminal-unreadable = 収集サーバにある記録でない行
review-action-terminal-unreadable = 収集サーバのファイルに記録でない行があります(破損、長すぎる行、他のプログラムの書き込み)。双方の rsyslog の設定(maxMessageSize 64k、メッセージだけを書くテンプレート)を確認してください。
review-kind-terminal-silent = 端末からの記録の途絶
review-action-terminal-silent = 許容時間を超えて記録が届いておらず、最後の記録はデーモンの停止ではありません。端末、デーモンまたは送信が止まっています。端末と双方の rsyslog を確認してください。
review-kind-terminal-late = 欠落とされた後に届いた記録
review-action-terminal-late = 前後の記録より大幅に遅れて記録が届きました(送信の滞留)。現在欠落がないこと、端末の rsyslog のキューを確認してください。
review-kind-terminal-empty = 記録のない集約端末
review-action-terminal-empty = 収集サーバの端末ディレクトリに記録がありません。端末がログを送信しているか(rsyslog の imfile と omrelp)を確認してください。

## 件数
review-per-operator = 操作者別
review-per-terminal = 端末別
review-col-logins = ログイン
review-col-denied = 拒否
review-col-failed-pins = 暗証番号誤り
review-col-lockouts = 暗証番号ロック
review-col-bad-cards = 不正カード
review-col-outside-hours = 時間外
review-col-two-terminals = 複数端末
review-col-after-return = 返却後
review-col-never-ended = 未終了

## 列
review-col-severity = 区分
review-col-time = 日時
review-col-finding = 所見
review-col-kind-code = 種別コード
review-col-terminal = 端末
review-col-operator = 操作者
review-col-card = カード
review-col-records = 記録番号
review-col-detail = 詳細
review-col-date = 日付
review-col-day-off = 休日等
review-col-findings = 所見数
review-col-register = 管理簿
review-col-who = 氏名
review-col-escort = 立会者
review-col-by = 記入者
review-col-text = 内容
review-col-problem = 異常
review-col-count = 件数
review-col-action = 対応

## 日別
review-day-weekend = 週休日
review-day-year-end = 年末年始の閉庁日
review-day-closed = 閉庁日
review-days-off-with-logins = 休日等のログイン
review-chart-days = 日別ログイン数
review-chart-no-days = 対象期間にログインはありません。
review-chart-logins = ログイン { $count } 件
review-chart-findings = 所見 { $count } 件
review-chart-legend-logins = ログイン数
review-chart-legend-wrong = 所見のある日、または休日等のログイン
review-chart-legend-off = 週休日・祝日・閉庁日

## 管理簿
review-notes = 管理簿の記録
review-notes-count = 管理簿の記録: { $count } 件
review-register-room-entry = サーバ室入退室
review-register-media = 媒体管理
review-register-resident-card = 住民基本台帳カード
review-register-other = その他

## 確認欄
review-signoff = 確認欄
review-signoff-reviewer = 確認者
review-signoff-date = 確認日
review-signoff-date-blank = 令和　　年　　月　　日
review-signoff-seal = 印
review-signoff-remarks = 所見・指示事項

## 所見の詳細
review-break-missing = ログがありません
review-break-replaced = ログが別のものに置き換えられています
review-break-truncated = 末尾の記録が削除されています
review-break-rewritten = 記録が書き換えられています
review-break-rolled-back = ログが以前の状態に巻き戻されています
review-detail-log-not-extended = { $how }。前回の点検は記録 { $checkpoint_seq }(封印世代 { $checkpoint_epoch })まででしたが、現在のログは記録 { $found_seq }(封印世代 { $found_epoch })で終わっています。
review-detail-log-not-intact = 記録 { $first_bad } 以降に異常: { $problem }
review-detail-key-may-be-wrong = 最初の封印が一致しません。指定した k(0) が誤っている可能性があります。
review-detail-record-gap = 記録 { $first } ～ { $last } が欠落しています
review-detail-revoked = 失効済み(理由: { $reason })
review-detail-certificate-rejected = 証明書を拒否(理由: { $reason })
review-detail-not-in-register = カード管理簿に登録がありません
review-detail-no-issue-record = ログに発行の記録がありません
review-detail-after-returned = { $at } に返却済みのカード(記録 { $record })
review-detail-after-revoked = { $at } に失効済みのカード(記録 { $record })
review-detail-refused = デーモンは拒否しました。
review-detail-two-terminals = { $since } から { $terminal } にもログイン中(記録 { $record })
review-detail-burst-card = このカードで { $minutes } 分以内に { $count } 回
review-detail-burst-terminal = この端末で { $minutes } 分以内に { $count } 回
review-detail-hours-until = セッション { $start } ～ { $end }
review-detail-refused-out-of-hours = 業務時間外の試行(デーモンが拒否)
review-detail-hours-open = 業務時間外に開始し、終了の記録がありません
review-detail-superseded = 同じ端末で次のログインが先に行われました
review-detail-daemon-restarted = セッション中にデーモンが再起動しました
review-detail-open-at-end = ログの末尾の時点でもログイン中です
review-detail-puk = 実行者 { $by }、残り { $tries } 回
review-detail-puk-blocked-now = 実行者 { $by }、PUK がロックされました
review-detail-puk-was-blocked = 実行者 { $by }、PUK がロック済みのカードに入力
review-detail-manager-refused = 実行者 { $by }: { $reason }
review-detail-tries-left = 残り { $tries } 回。
review-detail-terminal-conflict = 収集サーバの記録と内容の異なる記録 { $count } 件(最初は記録 { $seq })。
review-detail-terminal-replaced = 収集サーバにある連鎖 { $count } 個の後に、別のログ ID の起点記録が届きました。
review-detail-terminal-resent = 比較できない時期に再送された記録 { $count } 件(最初は記録 { $seq })。
review-detail-terminal-unreadable = 記録でない行 { $count } 行(最初の行は audit collected が示します)。
review-detail-terminal-silent = { $since } 以降、記録がありません(最後は { $last }、記録 { $seq })。
review-detail-terminal-late = 欠落とされた後に届いた記録 { $count } 件(最初は記録 { $seq })。
review-detail-terminal-empty = 記録が届いていません。
review-detail-unsealed = （有効な封印の前の記録による所見です。気付かれずに書き換えられた、または差し込まれた可能性があります。）
review-reason-lost = 紛失
review-reason-stolen = 盗難
review-reason-returned = 返却
review-reason-transferred = 異動
review-reason-damaged = 破損
review-reason-other = その他
review-reason-malformed = 証明書の形式不正
review-reason-bad-signature = 署名不正
review-reason-unknown-issuer = 発行者不明
review-reason-expired = 有効期限切れ
review-reason-not-yet-valid = 有効期間前
review-reason-serial-mismatch = カードの製造番号と不一致
review-reason-certificate-rejected = 証明書を拒否
review-reason-card-revoked = カード失効済み
review-reason-revocation-list-stale = 失効リストの期限切れ
review-reason-wrong-pin = 暗証番号誤り
review-reason-pin-blocked = 暗証番号ロック
review-reason-card-authentication-failed = カード認証失敗
review-reason-not-authorised-here = アクセス管理者のカードではありません
review-reason-card-removed = カードの抜き取り

## チェックポイント
review-checkpoint-none = 前回のチェックポイント: 指定なし。前回の点検以降にログが削除・置換されても検出できません。--checkpoint で前回のチェックポイントを指定してください。
review-checkpoint-extended = 前回のチェックポイント({ $made } の点検): すべてのログが前回から続いています。
review-checkpoint-broken = 前回のチェックポイント({ $made } の点検): ログが前回から続いていません。重大な所見を確認してください。
review-col-days-off = 休日等

## 適用した基準
review-rules = 業務日 { $days }曜日、業務時間 { $hours }。休日等: { $off }。
review-rules-holidays = 国民の祝日
review-rules-closed-days = 庁舎の閉庁日 { $count } 日
review-rules-no-days-off = なし

## cardgatectl audit report: 複数ログの点検 (issue 13)
review-cli-open-files = { $logs } 個のログの点検では各ログのファイルを同時に開きます。{ $need } 個のファイルが必要ですが、RLIMIT_NOFILE の上限は { $soft }（ハード上限 { $hard }）です。{ $error }
review-cli-open-files-hint = このシェルで開けるファイル数の上限を上げる（ulimit -n { $need }。ハード上限が低い場合は root で）か、一度に点検する端末を減らしてください。
