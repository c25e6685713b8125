/* SMS in Twilio's wire format (work in progress: filled in by the next commit). */
