"""Print a new VAPID key pair as environment lines for Web Push."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from backend.notifications.webpush import generate_vapid_keypair


class Command(BaseCommand):
    help = "Generate a VAPID key pair for Web Push and print it as environment variables."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--subject",
            default="mailto:ops@example.org",
            help="a mailto: address or https:// URL push services can reach you at",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        private_key, public_key = generate_vapid_keypair()
        self.stdout.write(f"# public key (served to browsers): {public_key}")
        self.stdout.write(f"VAPID_PRIVATE_KEY={private_key}")
        self.stdout.write(f"VAPID_SUBJECT={options['subject']}")
