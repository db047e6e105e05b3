# pam のメッセージ(ID の接頭辞: pam-)。
# pam_cardgate.so がログイン画面に表示する文言です。PAM の 1 メッセージは 512 バイトまでです。
# 入力を求める文言の末尾の空白は {" "} と書きます(Fluent は行末の空白を削除するため)。
pam-pin-prompt = 操作者カードの暗証番号を入力してください:{" "}
pam-insert-card = 操作者カードをカードリーダーに挿入してください。
pam-no-card-in-time = 操作者カードが挿入されませんでした。
pam-wrong-pin = 暗証番号が違います。残り{ $tries_left }回で暗証番号がロックされます。
pam-pin-blocked = 暗証番号がロックされています。アクセス管理者にロック解除を依頼してください。
pam-revoked = このカードは失効しています。使用できません。アクセス管理者に連絡してください。
pam-returned = このカードは返却済みです。使用できません。
pam-expired = このカードは有効期限が切れています。アクセス管理者に連絡してください。
pam-not-yet-valid = このカードはまだ有効期間になっていません。
pam-wrong-user = このカードはあなたに貸与されたものではありません。
pam-other-card = セッションはロック中です。ロックしたときのカードで解除してください。
pam-outside-hours = 業務時間外はログインできません。
pam-not-operator-card = このカードは cardgate で発行されたこの事務所の操作者カードではありません。
pam-card-removed = 処理中にカードが抜かれました。
pam-rate-limited = 暗証番号の誤りが続いたため、しばらく待ってから再度お試しください。
pam-malformed-pin = 暗証番号の形式が正しくありません(試行回数は減っていません)。
pam-service-unavailable = 認証サービスが現在利用できません。システム管理者に連絡してください。
pam-daemon-unreachable = 認証サービス(cardgated)に接続できません。システム管理者に連絡してください。
pam-card-changed = 認証したカードと異なるカードが挿入されています。
pam-must-change-pin = 初期暗証番号を変更してください。
pam-old-pin-prompt = 現在の暗証番号:{" "}
pam-new-pin-prompt = 新しい暗証番号:{" "}
pam-repeat-pin-prompt = 新しい暗証番号(確認):{" "}
pam-pin-mismatch = 新しい暗証番号が一致しません。
pam-pin-policy = 新しい暗証番号は規則を満たしていません ({ $rule })。
pam-pin-changed = 暗証番号を変更しました。
pam-no-logind-session = ログインセッションが登録されていないため(pam_systemd が XDG_SESSION_ID を設定していません)、カードを抜いたときに画面をロックできません。ログインを中止します。システム管理者に連絡してください。
pam-other = 認証できません ({ $message })。
