"""What every package of the project shares and nothing else: errors, registries, the dataclass
parser and the atomic writer.

It imports nothing from harness/, launch/, rewards/ or data_prep/, so each of them can use it
(rewards are loaded by path inside the trainers' processes; launchers know nothing of papers).
"""
